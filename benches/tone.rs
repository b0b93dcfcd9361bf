//! Benchmark: tone analysis speed as a real-time factor (seconds of audio
//! analysed per second of CPU, one core).
//!
//! Run: `cargo bench --bench tone`

use std::time::Instant;

use rehearse::audio::tone::analyse;
use rehearse::audio::{SESSION_RATE, Voice, VoiceSettings};

fn main() {
    // About a minute of speech with pauses, like an agent's side of a call.
    let voice = Voice::new(VoiceSettings {
        pitch: 1.2,
        ..Default::default()
    });
    let line = "Thanks for calling Northwind Outfitters returns, this is Sam. Could I have your order number? \
                Good news, that's covered by our return policy. Would you like a refund or an exchange?";
    let mut audio = Vec::new();
    while audio.len() < SESSION_RATE as usize * 60 {
        audio.extend(voice.speak(line));
        audio.extend(vec![0i16; SESSION_RATE as usize / 2]);
    }
    let seconds = audio.len() as f64 / SESSION_RATE as f64;
    let text = vec![line; audio.len() / (SESSION_RATE as usize * 10)].join(" ");
    // Warm up, then time several passes on this thread.
    let _ = analyse(&audio, Some(&text));
    let passes = 5;
    let start = Instant::now();
    for _ in 0..passes {
        std::hint::black_box(analyse(std::hint::black_box(&audio), Some(&text)));
    }
    let per_pass = start.elapsed().as_secs_f64() / passes as f64;
    println!(
        "tone analysis: {seconds:.1} s of speech in {:.1} ms per pass: {:.0}x real time (one core)",
        per_pass * 1000.0,
        seconds / per_pass
    );
}
