//! Progress lines on stderr, where the commands report what they are doing
//! while stdout carries their results.

use std::fmt::Display;
use std::io::Write;

/// One progress line. A closed stderr (`| head`) must not stop the work
/// half-way, so write errors are ignored.
pub fn line(line: impl Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `==> <stage>: <detail>`, the line that opens a stage of a command.
pub fn stage(stage: &str, detail: impl Display) {
    line(format_args!("==> {stage}: {detail}"));
}
