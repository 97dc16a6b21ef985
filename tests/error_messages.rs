//! The error convention (`src/error.rs`): an error's message says what failed and does not
//! repeat its cause, which is its `source()`. A message that interpolates its own source
//! prints the cause twice under `anyhow`'s `{:#}` or [`spate::ErrorChain`]
//! ("cannot create x.rrd: No such file or directory (os error 2): No such file or directory
//! (os error 2)"). This test reads every `#[error("…")]` in `src/` and fails on any message
//! that interpolates a field marked `#[source]` or `#[from]`, or named `source`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The fields of the variant (or struct) that follows an `#[error]` attribute which are its
/// source: `0`, `1`… for tuple fields, names for named ones.
fn source_fields(item: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(open) = item.find(['(', '{']) else {
        return out;
    };
    let tuple = item[open..].starts_with('(');
    let body = &item[open + 1..];
    // Split the fields at top-level commas.
    let mut depth = 0i32;
    let mut fields = Vec::new();
    let mut cur = String::new();
    for c in body.chars() {
        match c {
            '(' | '{' | '<' | '[' => depth += 1,
            ')' | '}' | '>' | ']' if depth == 0 => break,
            ')' | '}' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    fields.push(cur);
    for (i, f) in fields.iter().enumerate() {
        let marked = f.contains("#[source]") || f.contains("#[from]");
        // Strip attributes and doc comments to find a named field's name.
        let decl: String = f
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("///") && !l.starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        let decl = decl
            .replace("#[source]", "")
            .replace("#[from]", "")
            .replace("#[backtrace]", "");
        let decl = decl.trim();
        if tuple {
            if marked {
                out.push(i.to_string());
            }
        } else if let Some((name, _)) = decl.split_once(':') {
            let name = name.trim().trim_start_matches("pub ").trim().to_owned();
            if marked || name == "source" {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn no_error_message_repeats_its_source() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut checked = 0;
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[error(\"") {
            let after = &rest[at + "#[error(\"".len()..];
            // The string literal ends at the first unescaped quote; the attribute at `)]`
            // (format arguments may come in between: `"… {}", .0` counts as the message).
            let mut quote = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        quote = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let quote = quote.expect("an #[error(\"…\")] string ends");
            let end = quote
                + after[quote..]
                    .find(")]")
                    .expect("an #[error] attribute ends");
            let message = format!("{} {}", &after[..quote], &after[quote + 1..end]);
            let message = message.as_str();
            let item = &after[end + 2..];
            // The item runs to the next #[error or to the end of the enum.
            let stop = item.find("#[error(").unwrap_or(item.len());
            let item = &item[..stop];
            checked += 1;
            for field in source_fields(item) {
                if message.contains(&format!("{{{field}}}"))
                    || message.contains(&format!("{{{field}:"))
                    || message.contains(&format!(".{field}"))
                {
                    bad.push(format!(
                        "{}: \"{message}\" interpolates its source `{field}`",
                        file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                            .unwrap_or(file)
                            .display()
                    ));
                }
            }
            rest = &after[end..];
        }
    }
    assert!(
        checked > 30,
        "found only {checked} error messages: is the scan broken?"
    );
    assert!(
        bad.is_empty(),
        "messages that repeat their cause:\n{}",
        bad.join("\n")
    );
}

/// The scan itself can fail: it finds the patterns the convention forbids.
#[test]
fn the_scan_sees_a_message_that_repeats_its_source() {
    assert_eq!(source_fields("Io(#[from] std::io::Error),"), ["0"]);
    assert_eq!(
        source_fields("Create {\n /// p\n path: PathBuf,\n source: std::io::Error,\n },"),
        ["source"]
    );
    assert_eq!(
        source_fields("Bad { what: String, #[source] cause: Box<dyn Error> },"),
        ["cause"]
    );
    assert!(source_fields("Closed,").is_empty());
    assert!(source_fields("Deadline(&'static str),").is_empty());
}

/// Real errors, printed with their chain: each cause once.
#[test]
fn real_errors_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/run.rrd");
    let e = spate::sink::FileSink::create(&missing, spate::sink::FileSinkOptions::default())
        .unwrap_err();
    let text = spate::ErrorChain(&e).to_string();
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
    assert!(text.contains("run.rrd"), "{text}");
    let e = spate::sink::GrpcSink::connect("rerun+https://example.invalid/catalog").unwrap_err();
    let text = spate::ErrorChain(&e).to_string();
    let parts: Vec<&str> = text.split(": ").collect();
    let mut unique = parts.clone();
    unique.dedup();
    assert_eq!(parts, unique, "{text}");
}
