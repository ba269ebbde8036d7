#!/usr/bin/python3
"""make_transformer.py: a small PyTorch TransformerEncoder exported to ONNX.

Writes transformer_encoder.onnx next to this script: torch.nn.TransformerEncoder
(d_model 32, 2 heads, feed-forward 64, 2 layers, GELU, batch_first) on a
[1, 8, 32] float input, followed by a Linear head to 10 classes. The export is
opset 14 with do_constant_folding and a dynamic sequence axis, so the graph
keeps the Shape/Gather/Concat/Reshape chains that PyTorch emits for attention
heads; etch must fold them to static shapes (seq defaults to 1, or is set
with --shape src=1,8,32). Run with Debian's /usr/bin/python3 and
python3-torch; the weights come from torch.manual_seed(0), so a rerun
reproduces the file given the same torch version.
"""
import os
import sys

import torch

torch.manual_seed(0)


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(
            d_model=32, nhead=2, dim_feedforward=64, dropout=0.0,
            activation="gelu", batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=2,
                                                   enable_nested_tensor=False)
        self.head = torch.nn.Linear(32, 10)

    def forward(self, src):
        return self.head(self.encoder(src))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "transformer_encoder.onnx")
    model = Encoder().eval()
    src = torch.randn(1, 8, 32)
    # Exported with autograd on: the fused inference fast path
    # (aten::_transformer_encoder_layer_fwd, taken under no_grad) has no ONNX
    # export, the plain modules export as MatMul, Softmax, LayerNorm, ...
    torch.onnx.export(model, (src,), out, opset_version=14,
                      input_names=["src"], output_names=["logits"],
                      dynamic_axes={"src": {1: "seq"}, "logits": {1: "seq"}},
                      do_constant_folding=True)
    print("wrote", out, "torch", torch.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
