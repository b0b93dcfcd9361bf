//! A response that says one given line: how a client has the agent say a
//! fallback after a guardrail cut its response. The line rides in the
//! response's `instructions`, worded so a real model follows it; the
//! emulator recognises the same wording and says the line.

const LEAD: &str = "Say exactly this to the caller, word for word, and nothing else: ";

/// The response-level instructions that make the agent say `line`.
pub fn say_exactly(line: &str) -> String {
    format!("{LEAD}\"{}\"", line.trim())
}

/// The line a response's instructions ask to be said word for word, if
/// they were written by [`say_exactly`].
pub fn line_to_say(instructions: &str) -> Option<&str> {
    let quoted = instructions.strip_prefix(LEAD)?.trim();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .filter(|line| !line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_survives_the_round_trip() {
        let line = "I'm sorry, I can't promise that. A specialist can review it.";
        assert_eq!(line_to_say(&say_exactly(line)), Some(line));
        assert_eq!(line_to_say("Be brief."), None);
        assert_eq!(line_to_say(&say_exactly("  ")), None);
    }
}
