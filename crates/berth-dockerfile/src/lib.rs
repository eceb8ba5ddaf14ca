//! berth's Dockerfile parser: a syntax tree with line and column spans, and Docker's variable
//! substitution. Pure: no I/O, and it never panics on any input.
//!
//! - [`parse`] (or [`parse_bytes`] for raw bytes) turns a Dockerfile into a [`Dockerfile`]:
//!   its parser directives, its escape character, and one [`Instruction`] per instruction with
//!   a [`Span`], the original text, the `--flags` and a typed [`InstructionKind`]. Heredoc
//!   bodies are attached to their instruction. Errors are [`ParseError`]s, whose `Display`
//!   shows the file, line, column, the line's text and a caret.
//! - [`substitute`] expands `$VAR`/`${VAR…}` in one word and removes its quotes, as Docker's
//!   shell lexer does. The parser never expands anything; the builder calls `substitute` on
//!   the arguments of the instructions for which [`Instruction::expands_variables`] is true.
//! - [`ArgScope`] tracks which ARGs are visible where (global ARGs in FROM lines, stage ARGs
//!   from their declaration on, the proxy variables accepted without declaration).
//! - [`parse_port`] validates an EXPOSE word after substitution (the parser does not, since
//!   ports may be `$VAR`s).
//!
//! The parser follows BuildKit's, with one documented leniency: a JSON array continued over
//! several lines without continuation characters is joined and reported in
//! [`Dockerfile::warnings`] (see [`parse`]).

mod ast;
mod error;
mod parse;
mod port;
mod scope;
mod subst;
mod words;

pub use ast::{
    ArgDecl, Command, CopyArgs, Directive, Dockerfile, Flag, From, Healthcheck, Heredoc,
    Instruction, InstructionKind, KeyValue, KeyValues, Paths, PortSpec, Protocol, Run, Stage,
    Warning,
};
pub use error::{ParseError, Position, Span, SubstError};
pub use parse::{is_keyword, parse, parse_bytes};
pub use port::parse_port;
pub use scope::{ArgScope, PROXY_ARGS};
pub use subst::{MAX_SUBSTITUTION_DEPTH, substitute};
