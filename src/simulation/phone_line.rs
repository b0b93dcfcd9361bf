//! The caller's side of the phone line in a call: the condition's
//! [`Line`] between the caller's speech and the agent, with both the speech
//! and what the agent received recorded on the timeline.

use sha2::{Digest, Sha256};

use super::recorder::Recorder;
use crate::audio::line::{Line, Stage};
use crate::config::condition::ConditionFile;
use crate::run_folder::LineRecord;

/// The condition a call's caller phones from.
#[derive(Debug, Clone)]
pub struct LineSpec {
    pub condition: String,
    pub stages: Vec<Stage>,
    /// The line's own seed: the caller's choices draw from the call's seed,
    /// so they are the same under every condition (the pairs match).
    pub seed: u64,
}

impl LineSpec {
    pub fn new(condition: &ConditionFile, call_seed: u64) -> LineSpec {
        let digest = Sha256::digest(format!("{call_seed}/line/{}", condition.name).as_bytes());
        LineSpec {
            condition: condition.name.clone(),
            stages: condition.stages.clone(),
            seed: u64::from_le_bytes(digest[..8].try_into().unwrap_or_default()),
        }
    }

    /// Whether the line changes the audio (then the clean speech is kept
    /// beside what the agent received).
    pub fn changes_audio(&self) -> bool {
        !self.stages.is_empty()
    }
}

/// A call's line, running.
pub struct CallerLine {
    spec: LineSpec,
    line: Line,
    live: bool,
    /// Timeline ms up to which the line has been sent to the agent.
    sent_to_ms: f64,
}

impl CallerLine {
    /// `streamed`: the caller's audio streams to the agent (turn
    /// detection), so a line that adds sound, or a call that needs the line
    /// between turns (`keep_open`: a caller who makes sounds while the
    /// agent talks), keeps the line open for the whole call, not only while
    /// the caller speaks.
    pub fn new(spec: &LineSpec, streamed: bool, keep_open: bool) -> CallerLine {
        CallerLine {
            spec: spec.clone(),
            line: Line::new(&spec.stages, spec.seed),
            live: streamed && (spec.changes_audio() || keep_open),
            sent_to_ms: 0.0,
        }
    }

    /// Whether the line is open for the whole call (and must be fed).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Timeline ms up to which the line has been sent.
    pub fn sent_to(&self) -> f64 {
        self.sent_to_ms
    }

    /// Records that the line has carried audio up to `end_ms`.
    pub fn carried_to(&mut self, end_ms: f64) {
        self.sent_to_ms = self.sent_to_ms.max(end_ms);
    }

    /// A whole caller utterance meant for `at_ms`: records it and returns
    /// where it starts (ms) and what the agent receives.
    pub fn utterance(
        &mut self,
        rec: &mut Recorder,
        at_ms: f64,
        clean: &[i16],
    ) -> std::io::Result<(f64, Vec<i16>)> {
        self.carry(rec, at_ms, clean, Line::utterance)
    }

    /// Caller audio as it streams (pieces of speech, or the open line
    /// between turns): records it on both caller tracks and returns what
    /// the agent receives.
    pub fn stream(
        &mut self,
        rec: &mut Recorder,
        at_ms: f64,
        clean: &[i16],
    ) -> std::io::Result<(f64, Vec<i16>)> {
        self.carry(rec, at_ms, clean, Line::stream)
    }

    /// Puts `clean` through the line (`through` says how noise is set for
    /// it) at the caller track's next place for `at_ms`, and records both.
    fn carry(
        &mut self,
        rec: &mut Recorder,
        at_ms: f64,
        clean: &[i16],
        through: fn(&mut Line, &[i16], u64) -> Vec<i16>,
    ) -> std::io::Result<(f64, Vec<i16>)> {
        let start = rec.customer_start(at_ms);
        let received = through(&mut self.line, clean, start);
        let start_ms = rec.place_customer(start, &received, clean)?;
        Ok((start_ms, received))
    }

    /// The open line between turns: silence from the caller, through the
    /// line. A clean line is not recorded (its silence is the track's own).
    pub fn silence(
        &mut self,
        rec: &mut Recorder,
        at_ms: f64,
        samples: usize,
    ) -> std::io::Result<Vec<i16>> {
        let silence = vec![0i16; samples];
        if !self.spec.changes_audio() {
            return Ok(silence);
        }
        Ok(self.stream(rec, at_ms, &silence)?.1)
    }

    /// What `conversation.json` records of the line (nothing for `clean`).
    pub fn record(&self) -> Option<LineRecord> {
        self.spec.changes_audio().then(|| LineRecord {
            condition: self.spec.condition.clone(),
            stages: self.spec.stages.clone(),
            measured: self.line.stats(),
        })
    }
}
