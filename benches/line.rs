//! Benchmark: the phone line's speed as a real-time factor (seconds of
//! caller audio carried per second of CPU, one core), for every built-in
//! condition, in the chunks a call feeds it (100 ms).
//!
//! Run: `cargo bench --bench line`

use std::time::Instant;

use rehearse::audio::line::Line;
use rehearse::audio::{SESSION_RATE, Voice, VoiceSettings};
use rehearse::config::condition::{BUILTIN, builtin};

fn main() {
    // A minute of a caller's speech with pauses.
    let voice = Voice::new(VoiceSettings {
        pitch: 0.9,
        rate: 1.05,
        ..Default::default()
    });
    let line = "Hi, I'd like to return a pair of boots I bought last week. The order number is N W 1 0 4 2 2.";
    let mut audio = Vec::new();
    while audio.len() < SESSION_RATE as usize * 60 {
        audio.extend(voice.speak(line));
        audio.extend(vec![0i16; SESSION_RATE as usize]);
    }
    let seconds = audio.len() as f64 / SESSION_RATE as f64;
    let chunk = SESSION_RATE as usize / 10;
    for name in BUILTIN {
        let Some(condition) = builtin(name) else {
            continue;
        };
        // The babble bed is synthesised once per process: warm it up.
        let mut warm = Line::new(&condition.stages, 1);
        std::hint::black_box(warm.stream(&audio[..chunk], 0));
        let passes = 3;
        let start = Instant::now();
        for pass in 0..passes {
            let mut line = Line::new(&condition.stages, pass);
            for (i, piece) in audio.chunks(chunk).enumerate() {
                std::hint::black_box(line.stream(std::hint::black_box(piece), (i * chunk) as u64));
            }
        }
        let per_pass = start.elapsed().as_secs_f64() / passes as f64;
        println!(
            "line {name:<12} {seconds:.0} s of caller audio in {:>6.1} ms: {:>6.0}x real time (one core)",
            per_pass * 1000.0,
            seconds / per_pass
        );
    }
}
