//! Everything a conversation leaves on disk, written as it happens: two mono
//! tracks placed on the shared timeline (streamed, never held whole), JSONL
//! logs flushed line by line (a crash leaves every finished line intact), and
//! at the end a stereo call recording built from the tracks in chunks.

use std::path::{Path, PathBuf};

use crate::audio::{SESSION_RATE, wav};
use crate::realtime::TraceRecord;
use crate::run_folder::{
    AGENT_WAV, CONVERSATION_WAV, CUSTOMER_CLEAN_WAV, CUSTOMER_WAV, EVENTS, EventRecord, GUARDRAILS,
    GuardrailCheckRecord, Jsonl, MAX_UNTRUSTED_TEXT, Speaker, TOOLS, TRANSCRIPT, ToolCallRecord,
    Utterance, bounded,
};

/// A mono track: audio placed at timeline positions, silence in between.
struct Track {
    writer: wav::WavFileWriter,
    written: u64,
}

impl Track {
    fn create(path: &Path) -> std::io::Result<Track> {
        let writer = wav::create(path, SESSION_RATE, 1).map_err(to_io)?;
        Ok(Track { writer, written: 0 })
    }

    /// Places `samples` at `start_ms`, or right after what is already there
    /// if that is later. Returns where the audio actually starts (ms).
    fn place(&mut self, start_ms: f64, samples: &[i16]) -> std::io::Result<f64> {
        let start = self.next_start(start_ms);
        self.place_at(start, samples)?;
        Ok(start as f64 * 1000.0 / SESSION_RATE as f64)
    }

    /// The sample audio meant for `start_ms` would start at.
    fn next_start(&self, start_ms: f64) -> u64 {
        ((start_ms.max(0.0) * SESSION_RATE as f64 / 1000.0).round() as u64).max(self.written)
    }

    fn place_at(&mut self, start: u64, samples: &[i16]) -> std::io::Result<()> {
        self.pad_to(start)?;
        wav::write_samples(&mut self.writer, samples).map_err(to_io)?;
        self.written += samples.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, sample: u64) -> std::io::Result<()> {
        if self.written < sample {
            wav::write_silence(&mut self.writer, sample - self.written).map_err(to_io)?;
            self.written = sample;
        }
        Ok(())
    }

    fn finish(mut self, length: u64) -> std::io::Result<()> {
        self.pad_to(length)?;
        self.writer.finalize().map_err(to_io)
    }
}

fn to_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

pub struct Recorder {
    dir: PathBuf,
    agent: Track,
    customer: Track,
    /// The caller before the line, kept when a condition changes it.
    customer_clean: Option<Track>,
    transcript: Jsonl,
    tools: Jsonl,
    events: Jsonl,
    /// `guardrails.jsonl`, made with the first check (agents with guardrails).
    guardrails: Option<Jsonl>,
    pub utterances: Vec<Utterance>,
    pub tool_calls: Vec<ToolCallRecord>,
    /// Event lines that could not be written (the call goes on: events are
    /// a trace, not the record the scores come from). Each also logged.
    pub write_errors: Vec<String>,
}

impl Recorder {
    /// Tracks and logs in `dir`; `keep_clean` adds `customer_clean.wav` for
    /// the caller's speech before the line.
    pub fn create(dir: &Path, keep_clean: bool) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            agent: Track::create(&dir.join(AGENT_WAV))?,
            customer: Track::create(&dir.join(CUSTOMER_WAV))?,
            customer_clean: match keep_clean {
                true => Some(Track::create(&dir.join(CUSTOMER_CLEAN_WAV))?),
                false => None,
            },
            transcript: Jsonl::create(&dir.join(TRANSCRIPT))?,
            tools: Jsonl::create(&dir.join(TOOLS))?,
            events: Jsonl::create(&dir.join(EVENTS))?,
            guardrails: None,
            utterances: Vec::new(),
            tool_calls: Vec::new(),
            write_errors: Vec::new(),
        })
    }

    /// Places a side's audio on its track; returns the actual start (ms).
    pub fn place_audio(
        &mut self,
        speaker: Speaker,
        start_ms: f64,
        samples: &[i16],
    ) -> std::io::Result<f64> {
        match speaker {
            Speaker::Agent => self.agent.place(start_ms, samples),
            Speaker::Customer => self.customer.place(start_ms, samples),
        }
    }

    /// Where a side's audio meant for `start_ms` would start (ms).
    pub fn next_start(&self, speaker: Speaker, start_ms: f64) -> f64 {
        let track = match speaker {
            Speaker::Agent => &self.agent,
            Speaker::Customer => &self.customer,
        };
        track.next_start(start_ms) as f64 * 1000.0 / SESSION_RATE as f64
    }

    /// Where caller audio meant for `start_ms` starts on the caller's
    /// track, in samples (the line lays its packets on this grid).
    pub fn customer_start(&self, start_ms: f64) -> u64 {
        self.customer.next_start(start_ms)
    }

    /// Places the caller's audio at sample `start` (from
    /// [`Recorder::customer_start`]): what the agent received on the
    /// caller's track, and the clean speech on `customer_clean.wav`.
    /// Returns the start in ms.
    pub fn place_customer(
        &mut self,
        start: u64,
        received: &[i16],
        clean: &[i16],
    ) -> std::io::Result<f64> {
        self.customer
            .place_at(start.max(self.customer.written), received)?;
        if let Some(track) = &mut self.customer_clean {
            track.place_at(start.max(track.written), clean)?;
        }
        Ok(start as f64 * 1000.0 / SESSION_RATE as f64)
    }

    pub fn utterance(&mut self, mut u: Utterance) -> std::io::Result<()> {
        u.text = bounded(u.text, MAX_UNTRUSTED_TEXT);
        u.full_text = u.full_text.map(|t| bounded(t, MAX_UNTRUSTED_TEXT));
        self.transcript.write(&u)?;
        self.utterances.push(u);
        Ok(())
    }

    pub fn tool_call(&mut self, mut t: ToolCallRecord) -> std::io::Result<()> {
        t.arguments = bounded(t.arguments, MAX_UNTRUSTED_TEXT);
        t.output = t.output.map(|o| bounded(o, MAX_UNTRUSTED_TEXT));
        self.tools.write(&t)?;
        self.tool_calls.push(t);
        Ok(())
    }

    /// Appends a protocol event to `events.jsonl`. A failed write is logged
    /// and kept in [`Recorder::write_errors`] (the first per call), not
    /// fatal to the call.
    pub fn event(&mut self, side: Speaker, record: TraceRecord) {
        if let Err(e) = self.events.write(&EventRecord { side, record })
            && self.write_errors.is_empty()
        {
            let path = self.dir.join(EVENTS);
            tracing::error!(path = %path.display(), error = %e, "cannot write a protocol event");
            self.write_errors.push(format!("{}: {e}", path.display()));
        }
    }

    /// Appends a guardrail check to `guardrails.jsonl` (made with the
    /// first). A failed write is logged and kept in
    /// [`Recorder::write_errors`]: the call goes on, and its guardrail
    /// scores say the record is incomplete.
    pub fn guardrail_check(&mut self, record: &GuardrailCheckRecord) {
        let path = self.dir.join(GUARDRAILS);
        let written = match &mut self.guardrails {
            Some(file) => file.write(record),
            None => Jsonl::create(&path).and_then(|mut file| {
                let written = file.write(record);
                self.guardrails = Some(file);
                written
            }),
        };
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "cannot write a guardrail check");
            self.write_errors.push(format!("{}: {e}", path.display()));
        }
    }

    /// Closes the tracks at equal length and writes the stereo recording
    /// (left: customer, right: agent). Returns the call length in ms.
    pub fn finish(self) -> std::io::Result<f64> {
        let length = self.agent.written.max(self.customer.written);
        self.agent.finish(length)?;
        self.customer.finish(length)?;
        if let Some(clean) = self.customer_clean {
            clean.finish(length)?;
        }
        interleave(
            &self.dir.join(CUSTOMER_WAV),
            &self.dir.join(AGENT_WAV),
            &self.dir.join(CONVERSATION_WAV),
        )?;
        Ok(length as f64 * 1000.0 / SESSION_RATE as f64)
    }
}

/// Streams two mono WAVs into one stereo WAV, a block at a time (the
/// shorter side padded with silence).
fn interleave(left: &Path, right: &Path, out: &Path) -> std::io::Result<()> {
    let open = |p: &Path| {
        wav::PcmBlocks::open(p)
            .map_err(to_io)?
            .ok_or_else(|| std::io::Error::other(format!("{} is not 16-bit PCM", p.display())))
    };
    let (mut l, mut r) = (open(left)?, open(right)?);
    let mut w = wav::create(out, SESSION_RATE, 2).map_err(to_io)?;
    const BLOCK: usize = 8 * 1024;
    let (mut lb, mut rb) = (vec![0i16; BLOCK], vec![0i16; BLOCK]);
    let mut frames = Vec::with_capacity(2 * BLOCK);
    loop {
        let (nl, nr) = (l.read(&mut lb)?, r.read(&mut rb)?);
        let n = nl.max(nr);
        if n == 0 {
            break;
        }
        lb[nl..n].fill(0);
        rb[nr..n].fill(0);
        frames.clear();
        for (a, b) in lb[..n].iter().zip(&rb[..n]) {
            frames.extend([*a, *b]);
        }
        wav::write_samples(&mut w, &frames).map_err(to_io)?;
    }
    w.finalize().map_err(to_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_land_on_the_timeline_and_stereo_aligns_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::create(dir.path(), false).unwrap();
        let beep = vec![1000i16; 2400]; // 100 ms
        rec.place_audio(Speaker::Customer, 500.0, &beep).unwrap();
        assert_eq!(
            rec.place_audio(Speaker::Agent, 1000.0, &beep).unwrap(),
            1000.0
        );
        // Overlapping placement on one track is pushed after what is there.
        assert_eq!(
            rec.place_audio(Speaker::Agent, 1050.0, &beep).unwrap(),
            1100.0
        );
        let ms = rec.finish().unwrap();
        assert_eq!(ms, 1200.0);
        let mut stereo = hound::WavReader::open(dir.path().join(CONVERSATION_WAV)).unwrap();
        assert_eq!(stereo.spec().channels, 2);
        let s: Vec<i16> = stereo.samples::<i16>().map(Result::unwrap).collect();
        let at = |ms: usize, ch: usize| s[(ms * 24) * 2 + ch];
        assert_eq!((at(550, 0), at(550, 1)), (1000, 0), "customer on the left");
        assert_eq!((at(1050, 0), at(1050, 1)), (0, 1000), "agent on the right");
        assert_eq!((at(200, 0), at(200, 1)), (0, 0), "real silence");
    }
}
