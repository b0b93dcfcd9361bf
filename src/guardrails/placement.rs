//! Where a guardrail's trigger words play in the agent's audio, and what
//! the caller heard of them before the guardrail decided.
//!
//! The Realtime API gives no word timings. rehearse finds where the voice
//! is in the response's audio (the silence before the first word and the
//! pauses at punctuation are not words), pins each clear pause (150 ms or
//! more) to the clause boundary in the text it falls nearest (a `.`, `,`,
//! `;`, `:`, `?` or `!` followed by a space), and spreads the characters
//! between two pins evenly over the voiced time between them. On the
//! offline voice this places a word within about 100 ms of where it is
//! heard; spreading the characters over the whole audio instead puts it a
//! few hundred ms early.
//!
//! A response cut while it streamed has more text than audio (the text ran
//! ahead), so its rate is the agent's over the responses it said whole in
//! the call, not its own; past the audio it has, words are placed at that
//! rate after its last voiced moment.

use std::ops::Range;

use crate::audio::SESSION_RATE;
use crate::run_folder::GuardrailTrip;

/// An agent response as it played.
#[derive(Debug, Clone, Copy)]
pub struct Playback<'a> {
    /// Timeline ms where its audio began playing.
    pub start_ms: f64,
    /// Where the voice is in its audio (ms from its start).
    pub voiced: &'a [(f64, f64)],
    /// Voiced ms per character of its transcript.
    pub ms_per_char: f64,
    /// Its transcript as received.
    pub text: &'a str,
    /// How much of the audio played (ms): all of it, or up to a cut.
    pub played_ms: f64,
}

impl Playback<'_> {
    /// Timeline ms where the character at byte `offset` of the text plays.
    fn at(&self, offset: usize) -> f64 {
        let chars = self.text[..offset.min(self.text.len())].chars().count() as f64;
        let pins = self.pins();
        let from = pins.iter().rposition(|p| p.0 <= chars).unwrap_or(0);
        let (c0, v0) = pins[from];
        let voiced = match pins.get(from + 1) {
            Some(&(c1, v1)) => v0 + (chars - c0) * (v1 - v0) / (c1 - c0),
            None => v0 + (chars - c0) * self.ms_per_char,
        };
        self.on_timeline(voiced)
    }

    /// Characters pinned to voiced ms: the start, and each clear pause at
    /// the clause boundary nearest where the speaking rate puts it.
    fn pins(&self) -> Vec<(f64, f64)> {
        let boundaries = clause_starts(self.text);
        let mut pins = vec![(0.0, 0.0)];
        let mut voiced_so_far = 0.0;
        for pair in self.voiced.windows(2) {
            voiced_so_far += pair[0].1 - pair[0].0;
            if pair[1].0 - pair[0].1 < PIN_PAUSE_MS || self.ms_per_char <= 0.0 {
                continue;
            }
            let (c0, v0) = pins[pins.len() - 1];
            let predicted = c0 + (voiced_so_far - v0) / self.ms_per_char;
            let tolerance = (0.35 * (predicted - c0)).max(4.0);
            let nearest = boundaries
                .iter()
                .copied()
                .filter(|&b| b > c0)
                .min_by(|a, b| (a - predicted).abs().total_cmp(&(b - predicted).abs()));
            if let Some(b) = nearest.filter(|b| (b - predicted).abs() <= tolerance) {
                pins.push((b, voiced_so_far));
            }
        }
        pins
    }

    /// Timeline ms of a moment `voiced` ms into the voice.
    fn on_timeline(&self, voiced: f64) -> f64 {
        let mut voiced_left = voiced;
        let mut last_end = 0.0;
        // A moment at the end of a span is the start of the next: a word
        // after a pause starts when the voice comes back.
        for &(from, to) in self.voiced {
            if voiced_left < to - from {
                return self.start_ms + from + voiced_left;
            }
            voiced_left -= to - from;
            last_end = to;
        }
        self.start_ms + last_end + voiced_left
    }
}

/// Frames (10 ms) whose peak is below this share of the loudest sample, or
/// below about −40 dBFS, are silence.
const SILENT_SHARE: f64 = 0.03;
const SILENT_FLOOR: i16 = 330;
/// Silences shorter than this are inside words (stops), not pauses.
const MIN_PAUSE_MS: f64 = 80.0;
/// Pauses this long or longer are pinned to a clause boundary.
const PIN_PAUSE_MS: f64 = 150.0;

/// Where clauses start in `text`, in characters: after a `.`, `,`, `;`,
/// `:`, `?` or `!` and the spaces that follow it.
fn clause_starts(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut starts = Vec::new();
    for i in 1..chars.len() {
        let after_mark = matches!(chars[i - 1], '.' | ',' | ';' | ':' | '?' | '!');
        if after_mark && chars[i].is_whitespace() {
            let next = (i..chars.len()).find(|&j| !chars[j].is_whitespace());
            starts.extend(next.map(|j| j as f64));
        }
    }
    starts
}

/// Where the voice is in `samples` (24 kHz): spans in ms, pauses of
/// [`MIN_PAUSE_MS`] or more left out.
pub fn voiced_spans(samples: &[i16]) -> Vec<(f64, f64)> {
    let frame = (SESSION_RATE / 100) as usize;
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    let floor = ((peak as f64 * SILENT_SHARE) as u16).max(SILENT_FLOOR as u16);
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (i, chunk) in samples.chunks(frame).enumerate() {
        if chunk.iter().all(|s| s.unsigned_abs() < floor) {
            continue;
        }
        let (from, to) = (i as f64 * 10.0, i as f64 * 10.0 + chunk.len() as f64 / 24.0);
        match spans.last_mut() {
            Some(last) if from - last.1 < MIN_PAUSE_MS => last.1 = to,
            _ => spans.push((from, to)),
        }
    }
    spans
}

/// Total ms of `spans`.
pub fn voiced_ms(spans: &[(f64, f64)]) -> f64 {
    spans.iter().map(|(a, b)| b - a).sum()
}

/// The agent's speaking rate (voiced ms per character) over the responses
/// it said whole.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeakingRate {
    voiced_ms: f64,
    chars: usize,
}

impl SpeakingRate {
    /// Adds a response said whole: its voiced ms and its transcript.
    pub fn add(&mut self, voiced_ms: f64, text: &str) {
        self.voiced_ms += voiced_ms;
        self.chars += text.chars().count();
    }

    /// Voiced ms per character for a response: its own when it was said
    /// whole, else the call's (its own when the call has none yet).
    pub fn for_response(&self, voiced_ms: f64, text: &str, whole: bool) -> f64 {
        let own = voiced_ms / text.chars().count().max(1) as f64;
        match (whole, self.chars) {
            (false, n) if n > 0 => self.voiced_ms / n as f64,
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

    const ALL_VOICED: &[(f64, f64)] = &[(0.0, 4000.0)];

    fn playback(played_ms: f64) -> Playback<'static> {
        Playback {
            start_ms: 1000.0,
            voiced: ALL_VOICED,
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
    fn words_are_spread_over_voiced_time_only() {
        // 300 ms of silence, 1 s of voice, a 400 ms pause, 1 s of voice.
        let mut audio = vec![0i16; 7200];
        audio.extend(std::iter::repeat_n(8000i16, 24_000));
        audio.extend(std::iter::repeat_n(0i16, 9600));
        audio.extend(std::iter::repeat_n(-8000i16, 24_000));
        let voiced = voiced_spans(&audio);
        assert_eq!(voiced, vec![(300.0, 1300.0), (1700.0, 2700.0)]);
        let text = "0123456789 123456789";
        let p = Playback {
            start_ms: 0.0,
            voiced: &voiced,
            ms_per_char: voiced_ms(&voiced) / 20.0,
            text,
            played_ms: 2700.0,
        };
        assert_eq!(p.at(0), 300.0);
        assert_eq!(p.at(9), 1200.0);
        assert_eq!(p.at(10), 1700.0);
        assert_eq!(p.at(11), 1800.0);
        // Past the audio it has, at the same rate.
        assert_eq!(p.at(20), 2700.0);
    }

    #[test]
    fn a_pause_is_pinned_to_the_clause_boundary_it_falls_at() {
        // "friend" starts after the comma's pause, at 1100 ms; at an even
        // rate over all the voice it would be placed at 770 ms.
        let text = "Hello there, friend of mine";
        let voiced = [(0.0, 800.0), (1100.0, 1900.0)];
        let rate = voiced_ms(&voiced) / text.chars().count() as f64;
        let p = Playback {
            start_ms: 0.0,
            voiced: &voiced,
            ms_per_char: rate,
            text,
            played_ms: 1900.0,
        };
        assert_eq!(p.at(text.find("friend").unwrap()), 1100.0);
        assert_eq!(p.at(text.find("there").unwrap()), 800.0 * 6.0 / 13.0);
        // Audio that stops before the pause: past it, at the rate.
        let cut = Playback {
            voiced: &voiced[..1],
            ..p
        };
        let mine = cut.at(text.find("mine").unwrap());
        assert!((mine - 23.0 * rate).abs() < 1e-9, "{mine}");
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
