//! `conditions/*.yaml`: the acoustic conditions a caller may phone from, as
//! a chain of line stages (see [`crate::audio::line`]), and the built-in
//! ones every project has. Their exact parameters are in docs/conditions.md.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::{ConfigError, load_yaml_file};
use super::locate::Step;
use crate::audio::line::{Codec, NoiseKind, Stage};

pub use crate::run_folder::CLEAN;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    /// What `--condition` names it by.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Applied in order to the caller's audio on its way to the agent.
    pub stages: Vec<Stage>,
}

impl ConditionFile {
    pub fn load(path: &Path) -> Result<ConditionFile, ConfigError> {
        let condition: ConditionFile = load_yaml_file(path)?;
        let name_ok = condition
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && condition
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !name_ok {
            return Err(ConfigError::new(
                path,
                format!("condition name `{}` is not a plain name", condition.name),
            )
            .at_path(&[Step::Key("name")])
            .with_hint(
                "use lowercase letters, digits, `-`, `_` and `.`: it names folders and table rows",
            ));
        }
        if builtin(&condition.name).is_some() {
            return Err(ConfigError::new(
                path,
                format!(
                    "condition name `{}` is built in; results under it must mean what docs/conditions.md says",
                    condition.name
                ),
            )
            .at_path(&[Step::Key("name")])
            .with_hint("give your condition its own name"));
        }
        for (i, stage) in condition.stages.iter().enumerate() {
            if let Err((field, message)) = stage.check() {
                let kind = stage_key(stage);
                let at = [
                    Step::Key("stages"),
                    Step::Index(i),
                    Step::Key(kind),
                    Step::Key(field),
                ];
                return Err(
                    ConfigError::new(path, format!("stages[{i}].{kind}: {message}")).at_path(&at),
                );
            }
        }
        Ok(condition)
    }
}

/// A stage's key as written in YAML.
fn stage_key(stage: &Stage) -> &'static str {
    match stage {
        Stage::Gain { .. } => "gain",
        Stage::Noise { .. } => "noise",
        Stage::BandPass { .. } => "band_pass",
        Stage::Codec(_) => "codec",
        Stage::PacketLoss { .. } => "packet_loss",
        Stage::Reverb { .. } => "reverb",
        Stage::Clip { .. } => "clip",
    }
}

/// The telephone band and a µ-law round trip: the `phone` condition.
fn phone_line() -> Vec<Stage> {
    vec![
        Stage::BandPass {
            low_hz: 300.0,
            high_hz: 3400.0,
        },
        Stage::Codec(Codec::Mulaw),
    ]
}

fn cafe_noise() -> Stage {
    Stage::Noise {
        kind: NoiseKind::Cafe,
        snr_db: 10.0,
    }
}

/// Names of the built-in conditions, in the order docs list them.
pub const BUILTIN: &[&str] = &[
    CLEAN,
    "phone",
    "cafe",
    "street",
    "phone-noisy",
    "lossy",
    "quiet",
    "clipping",
];

/// A built-in condition by name.
pub fn builtin(name: &str) -> Option<ConditionFile> {
    let (description, stages) = match name {
        CLEAN => ("studio-quiet speech, straight to the agent", vec![]),
        "phone" => (
            "an 8 kHz narrowband phone line: 300-3400 Hz band, G.711 mu-law round trip",
            phone_line(),
        ),
        "cafe" => ("babble and clatter at 10 dB SNR", vec![cafe_noise()]),
        "street" => (
            "traffic rumble with passing vehicles and door thumps at 5 dB SNR",
            vec![Stage::Noise {
                kind: NoiseKind::Street,
                snr_db: 5.0,
            }],
        ),
        "phone-noisy" => (
            "a caller in a cafe on a narrowband phone line",
            std::iter::once(cafe_noise()).chain(phone_line()).collect(),
        ),
        "lossy" => (
            "a VoIP leg losing 2% of its 20 ms packets, with 20 ms of jitter against a 60 ms buffer",
            vec![Stage::PacketLoss {
                rate: 0.02,
                packet_ms: 20.0,
                jitter_ms: 20.0,
                buffer_ms: 60.0,
            }],
        ),
        "quiet" => (
            "a caller 20 dB below normal level",
            vec![Stage::Gain { db: -20.0 }],
        ),
        "clipping" => (
            "an overdriven microphone: 15 dB of gain, clipped at full scale",
            vec![Stage::Clip { drive_db: 15.0 }],
        ),
        _ => return None,
    };
    Some(ConditionFile {
        name: name.to_string(),
        description: description.to_string(),
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_defined_and_within_its_ranges() {
        for name in BUILTIN {
            let c = builtin(name).unwrap();
            assert_eq!(c.name, *name);
            assert!(c.stages.iter().all(|s| s.check().is_ok()), "{name}");
        }
        assert!(builtin(CLEAN).unwrap().stages.is_empty());
        assert_eq!(builtin("phone-noisy").unwrap().stages.len(), 3);
        assert!(builtin("moon").is_none());
    }

    #[test]
    fn a_condition_file_is_strict_and_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("car.yaml");
        std::fs::write(
            &path,
            "name: car\nstages:\n  - noise: {type: street, snr_db: 8}\n  - codec: alaw\n  - reverb: {rt60_s: 0.3}\n",
        )
        .unwrap();
        let car = ConditionFile::load(&path).unwrap();
        assert_eq!(car.stages.len(), 3);
        assert_eq!(
            car.stages[2],
            Stage::Reverb {
                rt60_s: 0.3,
                wet: 0.35
            }
        );

        std::fs::write(
            &path,
            "name: car\nstages:\n  - packet_loss:\n      rate: 0.9\n",
        )
        .unwrap();
        let err = ConditionFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("car.yaml:4:"), "{err}");
        assert!(err.contains("rate is 0.9"), "{err}");

        std::fs::write(
            &path,
            "name: car\nstages:\n  - noise: {type: street, snr: 8}\n",
        )
        .unwrap();
        let err = ConditionFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("snr"), "{err}");

        std::fs::write(&path, "name: Car Park\nstages: []\n").unwrap();
        let err = ConditionFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("car.yaml:1:") && err.contains("not a plain name"),
            "{err}"
        );

        std::fs::write(&path, "name: phone\nstages: []\n").unwrap();
        let err = ConditionFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("built in"), "{err}");
    }
}
