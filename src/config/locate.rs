//! Where a value sits in a YAML file, for errors found after parsing (a
//! reference to a persona that does not exist, an invalid regex): a path of
//! keys and list indices walked over the text, block and flow style alike.

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// 1-based line and column of the value at `path` (of the key itself when
/// the value is a nested block), or of the deepest step found; None when
/// not even the first step is there.
pub fn locate(text: &str, path: &[Step]) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    // The block being searched: (line, column where its content starts).
    let mut block: Vec<(usize, usize)> = (0..lines.len())
        .filter(|&i| is_content(lines[i]))
        .map(|i| (i, indent(lines[i])))
        .collect();
    let mut found = None;
    for step in path {
        let level = block.first()?.1;
        let at_level = block.iter().copied().filter(|&(_, c)| c == level);
        let hit = match *step {
            Step::Key(key) => at_level
                .clone()
                .find_map(|(i, c)| key_at(lines[i], c, key).map(|v| (i, c, v))),
            Step::Index(n) => at_level
                .filter(|&(i, c)| lines[i][c..].starts_with('-'))
                .nth(n)
                .map(|(i, c)| (i, c, value_column(lines[i], c + 1))),
        };
        let Some((line, col, value)) = hit else {
            // A flow collection on the line found last: look inside it.
            if let Some((line, col)) = found {
                let l = lines[line as usize - 1];
                let inside = match *step {
                    Step::Key(key) => flow_key(l, key),
                    Step::Index(n) => flow_item(l, col as usize - 1, n),
                };
                if let Some(at) = inside {
                    return Some((line, at as u64 + 1));
                }
            }
            return found;
        };
        found = Some((line as u64 + 1, value.unwrap_or(col) as u64 + 1));
        // What belongs to this step: deeper lines, or for a key without a
        // value, also a list written at the key's own indent (`key:` then
        // `- item` lines level with it, which YAML allows).
        let compact_list = matches!(step, Step::Key(_)) && value.is_none();
        let below = block
            .iter()
            .copied()
            .skip_while(|&(i, _)| i <= line)
            .take_while(|&(i, c)| {
                c > col || (compact_list && c == col && lines[i][c..].starts_with('-'))
            });
        block = match (step, value) {
            // A list item's content starts on its own line, after `- `.
            (Step::Index(_), Some(v)) => std::iter::once((line, v)).chain(below).collect(),
            _ => below.collect(),
        };
        if block.is_empty() {
            block.push((line, value.unwrap_or(col)));
        }
    }
    found
}

/// A dotted path as messages write it (`tools.lookup_order.responses[0]`).
pub fn parse_path(dotted: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in dotted.split('.') {
        let (key, indices) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        for index in indices.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                steps.push(Step::Index(i));
            }
        }
    }
    steps
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// `key:` starting at column `col` of the line (bare or quoted); the column
/// of its value on the same line, if any (`Some(None)`: the key, no value).
fn key_at(line: &str, col: usize, key: &str) -> Option<Option<usize>> {
    let body = line.get(col..)?;
    for quoted in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(after) = body.strip_prefix(&quoted)
            && after.trim_start().starts_with(':')
        {
            let colon = line.len() - after.trim_start().len();
            return Some(value_column(line, colon + 1));
        }
    }
    None
}

/// Where a value starts after `from` on the line, if it does.
fn value_column(line: &str, from: usize) -> Option<usize> {
    let rest = line.get(from..)?;
    let value = rest.trim_start();
    (!value.is_empty() && !value.starts_with('#')).then_some(from + rest.len() - value.len())
}

/// The `n`-th item of a flow sequence starting at column `from` (`[a, b]`).
fn flow_item(line: &str, from: usize, n: usize) -> Option<usize> {
    let rest = line.get(from..)?;
    if !rest.starts_with('[') {
        return None;
    }
    let (mut depth, mut index, mut quote) = (0usize, 0usize, None);
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                if depth == 1 && index == n {
                    return value_column(line, from + i + 1);
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 1 => {
                index += 1;
                if index == n {
                    return value_column(line, from + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A key inside a flow mapping on one line: the column of its value.
fn flow_key(line: &str, key: &str) -> Option<usize> {
    for quoted in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        let mut search = 0;
        while let Some(at) = line[search..].find(&quoted) {
            let at = search + at;
            let before = line[..at].trim_end();
            let after = line[at + quoted.len()..].trim_start();
            if (before.ends_with('{') || before.ends_with(',')) && after.starts_with(':') {
                let colon = line.len() - after.len();
                return value_column(line, colon + 1).or(Some(at));
            }
            search = at + quoted.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    const DOC: &str = "\
# a scenario
id: refund
persona: no-such-persona
tools:
  lookup_order:
    result: { found: true }
  verify_identity: { result: { ok: 1 } }
expectations:
  tool_calls:
    - name: lookup_order
      arguments: { order_id: NW1 }
    - name: create_label
      arguments:
        reason: { regex: \"[\" }
";

    #[test]
    fn finds_values_keys_items_and_flow_entries() {
        assert_eq!(locate(DOC, &[Key("persona")]), Some((3, 10)));
        assert_eq!(
            locate(DOC, &[Key("tools"), Key("lookup_order")]),
            Some((5, 3))
        );
        assert_eq!(
            locate(DOC, &[Key("tools"), Key("verify_identity"), Key("result")]),
            Some((7, 30))
        );
        assert_eq!(
            locate(
                DOC,
                &[
                    Key("expectations"),
                    Key("tool_calls"),
                    Index(1),
                    Key("name")
                ]
            ),
            Some((12, 13))
        );
        assert_eq!(
            locate(
                DOC,
                &[
                    Key("expectations"),
                    Key("tool_calls"),
                    Index(1),
                    Key("arguments"),
                    Key("reason"),
                    Key("regex")
                ]
            ),
            Some((14, 26))
        );
        assert_eq!(
            locate(
                DOC,
                &[
                    Key("expectations"),
                    Key("tool_calls"),
                    Index(0),
                    Key("arguments"),
                    Key("order_id")
                ]
            ),
            Some((11, 30))
        );
        assert_eq!(
            parse_path("expectations.tool_calls[1].name"),
            vec![
                Key("expectations"),
                Key("tool_calls"),
                Index(1),
                Key("name")
            ]
        );
        let compact = "tools:\n- name: a\n- name: b\nother: 1\n";
        assert_eq!(
            locate(compact, &[Key("tools"), Index(1), Key("name")]),
            Some((3, 9))
        );
        let flow = "flow: [greet, lookup]\n";
        assert_eq!(locate(flow, &[Key("flow"), Index(1)]), Some((1, 15)));
        assert_eq!(locate(flow, &[Key("flow"), Index(0)]), Some((1, 8)));
        // Not there: the deepest step found.
        assert_eq!(locate(DOC, &[Key("tools"), Key("nope")]), Some((4, 1)));
        assert_eq!(locate(DOC, &[Key("nope")]), None);
    }
}
