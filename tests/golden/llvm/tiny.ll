; ModuleID = 'tiny'
source_filename = "tiny"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

@tiny.w1 = private unnamed_addr constant [3 x float] [float 5.000000e-01, float -1.000000e+00, float 2.000000e+00], align 16

; Function Attrs: nounwind
define internal void @tiny.k0_fused(float* noalias nocapture readonly %x, float* noalias nocapture readonly %w1, float* noalias nocapture %t3) #0 {
entry:
  %i0 = alloca i64, align 8
  %i1 = alloca i64, align 8
  %f0 = alloca float, align 4
  store float 0.000000e+00, float* %f0, align 4
  store i64 0, i64* %i0, align 8
  br label %for.head

for.head:                                         ; preds = %for.end, %entry
  %0 = load i64, i64* %i0, align 8
  %1 = icmp slt i64 %0, 2
  br i1 %1, label %for.body, label %for.end3

for.body:                                         ; preds = %for.head
  store i64 0, i64* %i1, align 8
  br label %for.head1

for.head1:                                        ; preds = %for.body2, %for.body
  %2 = load i64, i64* %i1, align 8
  %3 = icmp slt i64 %2, 3
  br i1 %3, label %for.body2, label %for.end

for.body2:                                        ; preds = %for.head1
  %4 = load i64, i64* %i0, align 8
  %5 = mul i64 %4, 3
  %6 = load i64, i64* %i1, align 8
  %7 = add i64 %5, %6
  %8 = getelementptr inbounds float, float* %x, i64 %7
  %9 = load float, float* %8, align 4
  %10 = load i64, i64* %i1, align 8
  %11 = getelementptr inbounds float, float* %w1, i64 %10
  %12 = load float, float* %11, align 4
  %13 = fadd float %9, %12
  store float %13, float* %f0, align 4
  %14 = load float, float* %f0, align 4
  %15 = fcmp ogt float %14, 0.000000e+00
  %16 = select i1 %15, float %14, float 0.000000e+00
  %17 = load i64, i64* %i0, align 8
  %18 = mul i64 %17, 3
  %19 = load i64, i64* %i1, align 8
  %20 = add i64 %18, %19
  %21 = getelementptr inbounds float, float* %t3, i64 %20
  store float %16, float* %21, align 4
  %22 = load i64, i64* %i1, align 8
  %23 = add nsw i64 %22, 1
  store i64 %23, i64* %i1, align 8
  br label %for.head1

for.end:                                          ; preds = %for.head1
  %24 = load i64, i64* %i0, align 8
  %25 = add nsw i64 %24, 1
  store i64 %25, i64* %i0, align 8
  br label %for.head

for.end3:                                         ; preds = %for.head
  ret void
}

; Function Attrs: nounwind
define internal void @tiny.k1_softmax(float* noalias nocapture %y, float* noalias nocapture readonly %t3) #0 {
entry:
  %i0 = alloca i64, align 8
  %i1 = alloca i64, align 8
  %i2 = alloca i64, align 8
  %i3 = alloca i64, align 8
  %i4 = alloca i64, align 8
  %mx0 = alloca float, align 4
  store float 0.000000e+00, float* %mx0, align 4
  %sum1 = alloca float, align 4
  store float 0.000000e+00, float* %sum1, align 4
  store i64 0, i64* %i0, align 8
  br label %for.head

for.head:                                         ; preds = %for.end11, %entry
  %0 = load i64, i64* %i0, align 8
  %1 = icmp slt i64 %0, 2
  br i1 %1, label %for.body, label %for.end12

for.body:                                         ; preds = %for.head
  store float 0xFFF0000000000000, float* %mx0, align 4
  store i64 0, i64* %i1, align 8
  br label %for.head1

for.head1:                                        ; preds = %for.body2, %for.body
  %2 = load i64, i64* %i1, align 8
  %3 = icmp slt i64 %2, 3
  br i1 %3, label %for.body2, label %for.end

for.body2:                                        ; preds = %for.head1
  %4 = load float, float* %mx0, align 4
  %5 = load i64, i64* %i0, align 8
  %6 = mul i64 %5, 3
  %7 = load i64, i64* %i1, align 8
  %8 = add i64 %6, %7
  %9 = getelementptr inbounds float, float* %t3, i64 %8
  %10 = load float, float* %9, align 4
  %11 = fcmp ogt float %4, %10
  %12 = select i1 %11, float %4, float %10
  store float %12, float* %mx0, align 4
  %13 = load i64, i64* %i1, align 8
  %14 = add nsw i64 %13, 1
  store i64 %14, i64* %i1, align 8
  br label %for.head1

for.end:                                          ; preds = %for.head1
  store i64 0, i64* %i2, align 8
  br label %for.head3

for.head3:                                        ; preds = %for.body4, %for.end
  %15 = load i64, i64* %i2, align 8
  %16 = icmp slt i64 %15, 3
  br i1 %16, label %for.body4, label %for.end5

for.body4:                                        ; preds = %for.head3
  %17 = load i64, i64* %i0, align 8
  %18 = mul i64 %17, 3
  %19 = load i64, i64* %i2, align 8
  %20 = add i64 %18, %19
  %21 = getelementptr inbounds float, float* %t3, i64 %20
  %22 = load float, float* %21, align 4
  %23 = load float, float* %mx0, align 4
  %24 = fsub float %22, %23
  %25 = call float @expf(float %24)
  %26 = load i64, i64* %i0, align 8
  %27 = mul i64 %26, 3
  %28 = load i64, i64* %i2, align 8
  %29 = add i64 %27, %28
  %30 = getelementptr inbounds float, float* %y, i64 %29
  store float %25, float* %30, align 4
  %31 = load i64, i64* %i2, align 8
  %32 = add nsw i64 %31, 1
  store i64 %32, i64* %i2, align 8
  br label %for.head3

for.end5:                                         ; preds = %for.head3
  store float 0.000000e+00, float* %sum1, align 4
  store i64 0, i64* %i3, align 8
  br label %for.head6

for.head6:                                        ; preds = %for.body7, %for.end5
  %33 = load i64, i64* %i3, align 8
  %34 = icmp slt i64 %33, 3
  br i1 %34, label %for.body7, label %for.end8

for.body7:                                        ; preds = %for.head6
  %35 = load float, float* %sum1, align 4
  %36 = load i64, i64* %i0, align 8
  %37 = mul i64 %36, 3
  %38 = load i64, i64* %i3, align 8
  %39 = add i64 %37, %38
  %40 = getelementptr inbounds float, float* %y, i64 %39
  %41 = load float, float* %40, align 4
  %42 = fadd float %35, %41
  store float %42, float* %sum1, align 4
  %43 = load i64, i64* %i3, align 8
  %44 = add nsw i64 %43, 1
  store i64 %44, i64* %i3, align 8
  br label %for.head6

for.end8:                                         ; preds = %for.head6
  %45 = load float, float* %sum1, align 4
  %46 = fdiv float 1.000000e+00, %45
  store float %46, float* %sum1, align 4
  store i64 0, i64* %i4, align 8
  br label %for.head9

for.head9:                                        ; preds = %for.body10, %for.end8
  %47 = load i64, i64* %i4, align 8
  %48 = icmp slt i64 %47, 3
  br i1 %48, label %for.body10, label %for.end11

for.body10:                                       ; preds = %for.head9
  %49 = load i64, i64* %i0, align 8
  %50 = mul i64 %49, 3
  %51 = load i64, i64* %i4, align 8
  %52 = add i64 %50, %51
  %53 = getelementptr inbounds float, float* %y, i64 %52
  %54 = load float, float* %53, align 4
  %55 = load float, float* %sum1, align 4
  %56 = fmul float %54, %55
  %57 = load i64, i64* %i0, align 8
  %58 = mul i64 %57, 3
  %59 = load i64, i64* %i4, align 8
  %60 = add i64 %58, %59
  %61 = getelementptr inbounds float, float* %y, i64 %60
  store float %56, float* %61, align 4
  %62 = load i64, i64* %i4, align 8
  %63 = add nsw i64 %62, 1
  store i64 %63, i64* %i4, align 8
  br label %for.head9

for.end11:                                        ; preds = %for.head9
  %64 = load i64, i64* %i0, align 8
  %65 = add nsw i64 %64, 1
  store i64 %65, i64* %i0, align 8
  br label %for.head

for.end12:                                        ; preds = %for.head
  ret void
}

; Function Attrs: nounwind
declare float @expf(float) #0

; Function Attrs: nounwind
define i32 @tiny_run(float* %x, float* %y, i8* %workspace) #0 {
entry:
  %0 = icmp eq float* %x, null
  %1 = icmp eq float* %y, null
  %2 = or i1 %0, %1
  br i1 %2, label %fail, label %ok

fail:                                             ; preds = %entry
  ret i32 1

ok:                                               ; preds = %entry
  %3 = icmp eq i8* %workspace, null
  br i1 %3, label %fail1, label %ok2

fail1:                                            ; preds = %ok
  ret i32 1

ok2:                                              ; preds = %ok
  %4 = ptrtoint i8* %workspace to i64
  %5 = and i64 %4, 15
  %6 = icmp ne i64 %5, 0
  br i1 %6, label %fail3, label %ok4

fail3:                                            ; preds = %ok2
  ret i32 2

ok4:                                              ; preds = %ok2
  %7 = getelementptr inbounds i8, i8* %workspace, i64 0
  %t3 = bitcast i8* %7 to float*
  call void @tiny.k0_fused(float* %x, float* getelementptr inbounds ([3 x float], [3 x float]* @tiny.w1, i64 0, i64 0), float* %t3)
  call void @tiny.k1_softmax(float* %y, float* %t3)
  ret i32 0
}

; Function Attrs: nounwind
define i32 @tiny_invoke(i8** %inputs, i8** %outputs, i8* %workspace) #0 {
entry:
  %0 = icmp eq i8** %inputs, null
  br i1 %0, label %fail, label %ok

fail:                                             ; preds = %entry
  ret i32 1

ok:                                               ; preds = %entry
  %1 = icmp eq i8** %outputs, null
  br i1 %1, label %fail1, label %ok2

fail1:                                            ; preds = %ok
  ret i32 1

ok2:                                              ; preds = %ok
  %2 = getelementptr inbounds i8*, i8** %inputs, i64 0
  %3 = load i8*, i8** %2, align 8
  %4 = bitcast i8* %3 to float*
  %5 = getelementptr inbounds i8*, i8** %outputs, i64 0
  %6 = load i8*, i8** %5, align 8
  %7 = bitcast i8* %6 to float*
  %8 = call i32 @tiny_run(float* %4, float* %7, i8* %workspace)
  ret i32 %8
}

attributes #0 = { nounwind }
