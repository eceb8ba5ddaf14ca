//! berth's Dockerfile parser: a syntax tree with line and column spans, and Docker's variable
//! substitution. Pure: no I/O, and it never panics on any input.
