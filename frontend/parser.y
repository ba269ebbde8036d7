/* parser.y: the bison grammar of the graph language (docs/language.md).
 *
 * A pure, reentrant LALR(1) parser with locations. Actions are thin: they
 * call the fe_* builders in parse.c, which call the IR builders. Keywords
 * (graph, input, const, output, npy, inf, nan) are contextual: the lexer
 * hands them over as identifiers, so they stay usable as value names.
 * The parser stops at the first error of any kind (YYABORT); everything it
 * allocates lives in the compilation's arena, so stopping leaks nothing.
 */
%define api.pure full
%define api.prefix {etch_yy}
%define parse.error detailed
%locations
%lex-param {void *scanner}
%parse-param {void *scanner} {ParseState *ps}

%code requires {
#include "frontend.h"

/* A number literal: both readings are kept so an int-looking literal
 * still converts exactly to f32 (including -0). */
typedef struct {
    bool is_float;
    int64_t i;
    double f;
    Loc loc;
} FeNum;

typedef struct {
    FeNum *items;
    int n, cap;
} FeNumList;

typedef struct {
    int n;
    int64_t d[IR_MAX_RANK];
} FeDims;

typedef struct {
    const char *name;
    Attr val;
    Loc loc;
} FeAttr;

typedef struct {
    FeAttr *items;
    int n, cap;
} FeAttrList;

/* One argument of a call: an input value id (-1 for `_`) or an attribute. */
typedef struct {
    bool is_attr;
    int value;
    FeAttr attr;
    Loc loc;
} FeArg;

typedef struct {
    const char *op;
    Loc loc;
    int *in;
    int nin, capin;
    FeAttr *attrs;
    int nattrs, capattrs;
} FeCall;

/* One name on the left of `=`, with its optional type annotation. */
typedef struct {
    const char *name;
    Loc loc;
    bool typed;
    Type type;
    Loc tloc;
} FeLhs;

typedef struct {
    FeLhs *items;
    int n, cap;
} FeLhsList;

/* Const data: an inline list, or npy("path"). */
typedef struct {
    FeNumList *nums;
    const char *npy;
    Loc loc;
} FeData;

typedef struct {
    Ctx *ctx;
    Graph *g;
    const char *path; /* as given: the file name in diagnostics */
    const char *dir;  /* directory of path ("" for none), for npy paths */
    bool lex_error;   /* the lexer already reported the error */
    int line, col;    /* the lexer's cursor */
    Loc comment;      /* start of the open block comment */
} ParseState;
}

%code provides {
#define FE_LOC(ps, l) ((Loc){(ps)->path, (l).first_line, (l).first_column})

int etch_yylex(ETCH_YYSTYPE *lval, ETCH_YYLTYPE *lloc, void *scanner);
void etch_yyerror(ETCH_YYLTYPE *lloc, void *scanner, ParseState *ps, const char *msg);

/* parse.c: the builders behind the grammar's actions; false after a
 * diagnostic. */
bool fe_graph_begin(ParseState *ps, const char *kw, Loc kwloc, const char *name);
bool fe_graph_end(ParseState *ps, Loc loc);
bool fe_keyword(ParseState *ps, const char *got, const char *want, Loc loc);
bool fe_make_type(ParseState *ps, const char *dtype, Loc loc, const FeDims *dims,
                  const FeAttrList *quant, Loc qloc, Type *out);
bool fe_add_dim(ParseState *ps, FeDims *dims, const FeNum *d);
bool fe_declare(ParseState *ps, const char *kw, Loc kwloc, const char *name, Loc nameloc,
                const Type *t, const FeData *data);
bool fe_output(ParseState *ps, const char *name, Loc loc);
bool fe_named_number(ParseState *ps, const char *s, Loc loc, FeNum *out);
FeNumList *fe_nums_push(ParseState *ps, FeNumList *l, const FeNum *v);
void fe_nums_attr(ParseState *ps, const FeNumList *l, Attr *out);
FeAttrList *fe_attrs_push(ParseState *ps, FeAttrList *l, const FeAttr *a);
FeLhsList *fe_lhs_push(ParseState *ps, FeLhsList *l, const FeLhs *v);
int fe_value_ref(ParseState *ps, const char *name, Loc loc);
FeCall *fe_call_arg(ParseState *ps, FeCall *call, const FeArg *arg);
bool fe_nested_call(ParseState *ps, FeCall *call, int *value);
bool fe_node_stmt(ParseState *ps, const FeLhsList *lhs, FeCall *call);
}

%union {
    char *str;
    FeNum num;
    FeNumList *nums;
    FeDims dims;
    Type type;
    FeAttr attr;
    FeAttrList *attrs;
    Attr aval;
    FeArg arg;
    FeCall *call;
    FeLhs lhs;
    FeLhsList *lhss;
    FeData data;
}

%token <str> IDENT "identifier"
%token <str> STRING "string"
%token <num> INT "integer"
%token <num> FLOAT "number"
%token UNDERSCORE "'_'"
%token LEXERR "invalid token"

%type <num> num unum
%type <nums> nums
%type <dims> dims dims_opt
%type <type> type
%type <attrs> quant_opt attrs
%type <attr> attr
%type <aval> aval
%type <arg> arg
%type <call> args call
%type <lhs> lhs
%type <lhss> lhss
%type <data> cdata

%%

program:
    IDENT IDENT '{'
        { if (!fe_graph_begin(ps, $1, FE_LOC(ps, @1), $2)) YYABORT; }
    stmts '}'
        { if (!fe_graph_end(ps, FE_LOC(ps, @6))) YYABORT; }
    ;

stmts:
    %empty
  | stmts stmt
  ;

stmt:
    IDENT IDENT ':' type
        { if (!fe_declare(ps, $1, FE_LOC(ps, @1), $2, FE_LOC(ps, @2), &$4, NULL)) YYABORT; }
  | IDENT IDENT ':' type '=' cdata
        { if (!fe_declare(ps, $1, FE_LOC(ps, @1), $2, FE_LOC(ps, @2), &$4, &$6)) YYABORT; }
  | outputs
  | lhss '=' call
        { if (!fe_node_stmt(ps, $1, $3)) YYABORT; }
  ;

outputs:
    IDENT IDENT
        {
            if (!fe_keyword(ps, $1, "output", FE_LOC(ps, @1)) || !fe_output(ps, $2, FE_LOC(ps, @2)))
                YYABORT;
        }
  | outputs ',' IDENT
        { if (!fe_output(ps, $3, FE_LOC(ps, @3))) YYABORT; }
  ;

lhss:
    lhs             { $$ = fe_lhs_push(ps, NULL, &$1); }
  | lhss ',' lhs    { $$ = fe_lhs_push(ps, $1, &$3); }
  ;

lhs:
    IDENT
        { $$ = (FeLhs){.name = $1, .loc = FE_LOC(ps, @1)}; }
  | IDENT ':' type
        { $$ = (FeLhs){.name = $1, .loc = FE_LOC(ps, @1), .typed = true, .type = $3, .tloc = FE_LOC(ps, @3)}; }
  ;

type:
    IDENT '[' dims_opt ']' quant_opt
        { if (!fe_make_type(ps, $1, FE_LOC(ps, @1), &$3, $5, FE_LOC(ps, @5), &$$)) YYABORT; }
  ;

dims_opt:
    %empty          { $$.n = 0; }
  | dims
  ;

dims:
    INT             { $$.n = 0; if (!fe_add_dim(ps, &$$, &$1)) YYABORT; }
  | dims ',' INT    { $$ = $1; if (!fe_add_dim(ps, &$$, &$3)) YYABORT; }
  ;

quant_opt:
    %empty          { $$ = NULL; }
  | '{' attrs '}'   { $$ = $2; }
  ;

attrs:
    attr            { $$ = fe_attrs_push(ps, NULL, &$1); }
  | attrs ',' attr  { $$ = fe_attrs_push(ps, $1, &$3); }
  ;

attr:
    IDENT '=' aval  { $$ = (FeAttr){.name = $1, .val = $3, .loc = FE_LOC(ps, @1)}; }
  ;

aval:
    num
        {
            $$ = (Attr){.type = $1.is_float ? AT_FLOAT : AT_INT, .i = $1.i, .f = $1.f};
        }
  | STRING          { $$ = (Attr){.type = AT_STR, .s = $1}; }
  | '[' ']'         { $$ = (Attr){.type = AT_INTS}; }
  | '[' nums ']'    { fe_nums_attr(ps, $2, &$$); }
  ;

nums:
    num             { $$ = fe_nums_push(ps, NULL, &$1); }
  | nums ',' num    { $$ = fe_nums_push(ps, $1, &$3); }
  ;

num:
    unum
  | '-' unum        { $$ = $2; $$.i = -$$.i; $$.f = -$$.f; $$.loc = FE_LOC(ps, @1); }
  ;

unum:
    INT
  | FLOAT
  | IDENT           { if (!fe_named_number(ps, $1, FE_LOC(ps, @1), &$$)) YYABORT; }
  ;

cdata:
    '[' ']'         { $$ = (FeData){.nums = NULL, .loc = FE_LOC(ps, @1)}; }
  | '[' nums ']'    { $$ = (FeData){.nums = $2, .loc = FE_LOC(ps, @1)}; }
  | IDENT '(' STRING ')'
        {
            if (!fe_keyword(ps, $1, "npy", FE_LOC(ps, @1)))
                YYABORT;
            $$ = (FeData){.npy = $3, .loc = FE_LOC(ps, @3)};
        }
  ;

call:
    IDENT '(' ')'       { $$ = fe_call_arg(ps, NULL, NULL); $$->op = $1; $$->loc = FE_LOC(ps, @1); }
  | IDENT '(' args ')'  { $$ = $3; $$->op = $1; $$->loc = FE_LOC(ps, @1); }
  ;

args:
    arg             { if (!($$ = fe_call_arg(ps, NULL, &$1))) YYABORT; }
  | args ',' arg    { if (!($$ = fe_call_arg(ps, $1, &$3))) YYABORT; }
  ;

arg:
    IDENT
        {
            $$ = (FeArg){.value = fe_value_ref(ps, $1, FE_LOC(ps, @1)), .loc = FE_LOC(ps, @1)};
            if ($$.value < 0)
                YYABORT;
        }
  | UNDERSCORE      { $$ = (FeArg){.value = -1, .loc = FE_LOC(ps, @1)}; }
  | call
        {
            $$ = (FeArg){.loc = FE_LOC(ps, @1)};
            if (!fe_nested_call(ps, $1, &$$.value))
                YYABORT;
        }
  | attr            { $$ = (FeArg){.is_attr = true, .attr = $1, .loc = FE_LOC(ps, @1)}; }
  ;

%%

void etch_yyerror(ETCH_YYLTYPE *lloc, void *scanner, ParseState *ps, const char *msg)
{
    (void)scanner;
    /* A lexer error was reported where it happened; bison's follow-up
     * complaint about the invalid token would only repeat it. */
    if (ps->lex_error)
        return;
    diag_error(ps->ctx, FE_LOC(ps, *lloc), "%s", msg);
}
