//! `junit.xml`: one test case per scenario × variant × repeat. Failed checks
//! with their evidence become `<failure>`, errored conversations `<error>`,
//! undecided ones `<skipped>`, in the schema CI systems render.

use std::fmt::Write;

use super::Report;
use crate::run_folder::{Status, Verdict};

/// XML text and attribute escaping (transcripts are untrusted).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub fn xml(r: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    let mut body = String::new();
    let failed_by_call = r.failed_checks();
    for v in &r.variants {
        let convs: Vec<_> = r
            .conversations
            .iter()
            .filter(|c| c.variant == v.variant)
            .collect();
        let (mut f, mut e, mut s) = (0, 0, 0);
        let mut cases = String::new();
        for c in &convs {
            let name = format!(
                "{} #{}{}",
                c.scenario,
                c.repeat,
                crate::run_folder::condition_suffix(&c.condition)
            );
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                escape(&format!("rehearse.{}", v.variant)),
                escape(&name),
                c.duration_s
            );
            let failed = failed_by_call
                .get(&c.call_key())
                .map_or(&[][..], Vec::as_slice);
            match (c.status, c.verdict) {
                (Status::Interrupted, _) => {
                    s += 1;
                    let _ = writeln!(
                        cases,
                        "      <skipped message=\"interrupted by a stop (Ctrl-C or SIGTERM); run --resume finishes it\"/>"
                    );
                }
                (Status::Error, _) | (_, Verdict::Error) => {
                    e += 1;
                    let why = match (&c.error, c.status) {
                        (Some(cause), _) => format!("the call failed: {cause}"),
                        (None, Status::Error) => "the call failed".to_string(),
                        (None, _) => "a check could not be run (see results)".to_string(),
                    };
                    let _ = writeln!(
                        cases,
                        "      <error message=\"{}\" type=\"error\"/>",
                        escape(&why)
                    );
                }
                (_, Verdict::Fail) => {
                    f += 1;
                    let message = failed
                        .iter()
                        .map(|x| x.check.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let detail: String = failed
                        .iter()
                        .map(|x| format!("{}: {}\n", x.check, x.detail))
                        .collect();
                    let _ = writeln!(
                        cases,
                        "      <failure message=\"{}\" type=\"check\">{}</failure>",
                        escape(&message),
                        escape(&detail)
                    );
                }
                (_, Verdict::Undecided) => {
                    s += 1;
                    let _ = writeln!(
                        cases,
                        "      <skipped message=\"every check was skipped\"/>"
                    );
                }
                _ => {}
            }
            cases.push_str("    </testcase>\n");
        }
        let time: f64 = convs.iter().map(|c| c.duration_s).sum();
        let _ = write!(
            body,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{time:.3}\">\n{cases}  </testsuite>\n",
            escape(&v.variant),
            convs.len()
        );
        tests += convs.len();
        failures += f;
        errors += e;
        skipped += s;
    }
    let _ = write!(
        out,
        "<testsuites name=\"rehearse {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n{body}</testsuites>\n",
        escape(&r.run_id)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn untrusted_text_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &apos;b&apos;&lt;/script&gt;"
        );
        assert_eq!(escape("bell\u{7}"), "bell\u{fffd}");
    }
}
