//! Where a guardrail's trigger words play in the agent's audio, and what
//! the caller heard of them before the guardrail decided.
//!
//! The Realtime API gives no word timings, so a word's place in the audio
//! is its place in the transcript, in characters, scaled to the audio's
//! length: the same estimate rehearse uses to cut an interrupted turn's
//! transcript. The offline voice speaks at an even rate, where it is close.
//!
//! A response cut while it streamed has more text than audio (the text ran
//! ahead): its rate is the agent's rate over its complete responses in the
//! call, not its own.

use std::ops::Range;

use crate::run_folder::GuardrailTrip;

/// An agent response as it played.
#[derive(Debug, Clone, Copy)]
pub struct Playback<'a> {
    /// Timeline ms where its audio began playing.
    pub start_ms: f64,
    /// How long a character of its transcript takes to say (ms).
    pub ms_per_char: f64,
    /// Its transcript as received.
    pub text: &'a str,
    /// How much of the audio played (ms): all of it, or up to a cut.
    pub played_ms: f64,
}

impl Playback<'_> {
    /// Timeline ms where the character at byte `offset` of the text plays.
    fn at(&self, offset: usize) -> f64 {
        let before = self.text[..offset.min(self.text.len())].chars().count() as f64;
        self.start_ms + self.ms_per_char * before
    }
}

/// The agent's speaking rate (ms per character) over responses said whole.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeakingRate {
    audio_ms: f64,
    chars: usize,
}

impl SpeakingRate {
    /// Adds a response said whole: its audio and its transcript.
    pub fn add(&mut self, audio_ms: f64, text: &str) {
        self.audio_ms += audio_ms;
        self.chars += text.chars().count();
    }

    /// ms per character for a response: its own when it was said whole,
    /// else the call's (falling back to its own when the call has none).
    pub fn for_response(&self, audio_ms: f64, text: &str, whole: bool) -> f64 {
        let own = audio_ms / text.chars().count().max(1) as f64;
        match (whole, self.chars) {
            (false, n) if n > 0 => self.audio_ms / n as f64,
            _ => own,
        }
    }
}

/// Places a trip: `span` (byte offsets into the playback's text) is what
/// tripped the guardrail, `decided_ms` when it decided. `enforced` says the
/// response was cut there (the playback's `played_ms` ends at the cut).
pub fn place_trip(
    playback: &Playback<'_>,
    span: Range<usize>,
    decided_ms: f64,
    enforced: bool,
) -> GuardrailTrip {
    let span = span.start.min(playback.text.len())..span.end.min(playback.text.len());
    let words_start_ms = playback.at(span.start);
    let words_end_ms = playback.at(span.end);
    // What played before the decision (or before playback stopped anyway).
    let heard_until = decided_ms.min(playback.start_ms + playback.played_ms);
    let heard_ms = (heard_until - words_start_ms).clamp(0.0, words_end_ms - words_start_ms);
    let trigger = &playback.text[span.clone()];
    let heard_words = word_starts(trigger)
        .filter(|&w| playback.at(span.start + w) < heard_until)
        .count() as u32;
    GuardrailTrip {
        trigger: trigger.trim().to_string(),
        words_start_ms,
        words_end_ms,
        playback_start_ms: playback.start_ms,
        caught_before_heard: decided_ms <= words_start_ms,
        heard_ms,
        heard_words,
        enforced,
    }
}

/// Byte offsets where the words of `text` start.
fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.char_indices()
        .filter(|&(i, c)| {
            !c.is_whitespace() && (i == 0 || text[..i].ends_with(char::is_whitespace))
        })
        .map(|(i, _)| i)
}

/// Where `quote` (a classifier's words) is in `text`, ignoring case and
/// runs of whitespace; None when it is not there word for word.
pub fn find_quote(text: &str, quote: &str) -> Option<Range<usize>> {
    let words: Vec<&str> = quote.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let pattern = words
        .iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join(r"\s+");
    let re = regex::Regex::new(&format!("(?i){pattern}")).ok()?;
    re.find(text).map(|m| m.range())
}

#[cfg(test)]
mod tests {
    use super::*;

    // 40 characters over 4 s: 100 ms a character.
    const TEXT: &str = "We can't do that, but a full refund, ok.";

    fn playback(played_ms: f64) -> Playback<'static> {
        Playback {
            start_ms: 1000.0,
            ms_per_char: 100.0,
            text: TEXT,
            played_ms,
        }
    }

    #[test]
    fn a_decision_before_the_words_play_is_caught_before_heard() {
        let span = TEXT.find("full refund").map(|s| s..s + 11).unwrap();
        let trip = place_trip(&playback(1500.0), span, 2400.0, true);
        assert_eq!(trip.words_start_ms, 1000.0 + 2400.0);
        assert_eq!(trip.words_end_ms, 1000.0 + 3500.0);
        assert!(trip.caught_before_heard);
        assert_eq!((trip.heard_ms, trip.heard_words), (0.0, 0));
        assert_eq!(trip.trigger, "full refund");
    }

    #[test]
    fn a_late_decision_lets_the_caller_hear_part_of_the_words() {
        let span = TEXT.find("full refund").map(|s| s..s + 11).unwrap();
        // Decided 600 ms into the words: "full " and "r" played.
        let trip = place_trip(&playback(4000.0), span.clone(), 4000.0, true);
        assert!(!trip.caught_before_heard);
        assert!((trip.heard_ms - 600.0).abs() < 1e-9);
        assert_eq!(trip.heard_words, 2);
        // Decided after it all played: every word heard.
        let late = place_trip(&playback(4000.0), span, 9000.0, false);
        assert!((late.heard_ms - 1100.0).abs() < 1e-9);
        assert_eq!(late.heard_words, 2);
    }

    #[test]
    fn playback_that_stopped_early_bounds_what_was_heard() {
        let span = TEXT.find("full refund").map(|s| s..s + 11).unwrap();
        let trip = place_trip(&playback(2500.0), span, 9000.0, false);
        assert!((trip.heard_ms - 100.0).abs() < 1e-9, "{}", trip.heard_ms);
    }

    #[test]
    fn a_cut_response_is_placed_at_the_call_s_speaking_rate() {
        let mut rate = SpeakingRate::default();
        assert_eq!(rate.for_response(1000.0, "0123456789", false), 100.0);
        rate.add(600.0, "0123456789");
        assert_eq!(rate.for_response(1000.0, "0123456789", true), 100.0);
        assert_eq!(rate.for_response(1000.0, "0123456789", false), 60.0);
    }

    #[test]
    fn quotes_are_found_across_case_and_spacing() {
        assert_eq!(find_quote(TEXT, "A  FULL refund"), Some(22..35));
        assert_eq!(find_quote(TEXT, "store credit"), None);
        assert_eq!(find_quote(TEXT, "  "), None);
    }
}
