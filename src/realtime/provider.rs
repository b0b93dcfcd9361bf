//! Where an agent lives and how to authenticate, following the official SDKs'
//! conventions so a user can redirect any agent with environment variables.

use std::fmt;

use crate::config::agent::{AgentFile, ProviderKind};
use crate::protocol::Dialect;

/// A secret value. Never printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A resolved connection target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub dialect: Dialect,
    /// Headers to send; values that are keys are [`Secret`]s.
    pub headers: Vec<(String, Secret)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProviderError {
    #[error(
        "environment variable {var} is not set (it holds the API key for provider `{provider}`)"
    )]
    MissingKey { var: String, provider: String },
    #[error("provider `{provider}` needs an endpoint: set {var} or `url:` in the agent file")]
    MissingEndpoint { var: String, provider: String },
    #[error("`{url}` is not a usable realtime URL: {why}")]
    BadUrl { url: String, why: String },
    #[error("provider `emulator` is served locally; it has no remote endpoint")]
    Local,
}

/// Maps an API base (`https://host/v1`) or a WebSocket URL to the realtime
/// WebSocket URL, as the SDKs do.
pub fn realtime_url(base: &str, path_suffix: &str) -> Result<String, ProviderError> {
    let base = base.trim_end_matches('/');
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| ProviderError::BadUrl {
            url: base.into(),
            why: "missing scheme (expected http, https, ws or wss)".into(),
        })?;
    let ws_scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(ProviderError::BadUrl {
                url: base.into(),
                why: format!("unsupported scheme `{other}`"),
            });
        }
    };
    if rest.is_empty() {
        return Err(ProviderError::BadUrl {
            url: base.into(),
            why: "missing host".into(),
        });
    }
    let path = if rest.ends_with("/realtime") || rest.contains("/realtime?") {
        rest.to_string()
    } else {
        format!("{rest}{path_suffix}")
    };
    Ok(format!("{ws_scheme}://{path}"))
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

impl Endpoint {
    /// Resolves an agent file against the environment (`env` looks variables up).
    pub fn resolve(
        agent: &AgentFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Endpoint, ProviderError> {
        let model = agent.model_name().to_string();
        let key = |default_var: &str, required: bool| -> Result<Option<Secret>, ProviderError> {
            let var = agent
                .api_key_env
                .clone()
                .unwrap_or_else(|| default_var.into());
            match env(&var).filter(|v| !v.is_empty()) {
                Some(v) => Ok(Some(Secret::new(v))),
                None if required => Err(ProviderError::MissingKey {
                    var,
                    provider: format!("{:?}", agent.provider).to_lowercase(),
                }),
                None => Ok(None),
            }
        };
        match agent.provider {
            ProviderKind::Emulator => Err(ProviderError::Local),
            ProviderKind::Openai | ProviderKind::OpenaiBeta => {
                let base = agent
                    .url
                    .clone()
                    .or_else(|| env("OPENAI_BASE_URL"))
                    .unwrap_or_else(|| "https://api.openai.com/v1".into());
                let url = with_query(&realtime_url(&base, "/realtime")?, "model", &model);
                let mut headers = Vec::new();
                if let Some(k) = key("OPENAI_API_KEY", true)? {
                    headers.push((
                        "Authorization".into(),
                        Secret::new(format!("Bearer {}", k.expose())),
                    ));
                }
                let dialect = if agent.provider == ProviderKind::OpenaiBeta {
                    headers.push(("OpenAI-Beta".into(), Secret::new("realtime=v1".into())));
                    Dialect::Beta
                } else {
                    Dialect::Ga
                };
                Ok(Endpoint {
                    url,
                    dialect,
                    headers,
                })
            }
            ProviderKind::Azure => {
                let endpoint = agent
                    .url
                    .clone()
                    .or_else(|| env("AZURE_OPENAI_ENDPOINT"))
                    .ok_or(ProviderError::MissingEndpoint {
                        var: "AZURE_OPENAI_ENDPOINT".into(),
                        provider: "azure".into(),
                    })?;
                let k = key("AZURE_OPENAI_API_KEY", true)?;
                let (url, dialect) = match &agent.api_version {
                    // Preview endpoints speak the beta event names.
                    Some(version) => {
                        let u = realtime_url(&endpoint, "/openai/realtime")?;
                        let u = with_query(&u, "api-version", version);
                        (with_query(&u, "deployment", &model), Dialect::Beta)
                    }
                    None => (
                        with_query(
                            &realtime_url(&endpoint, "/openai/v1/realtime")?,
                            "model",
                            &model,
                        ),
                        Dialect::Ga,
                    ),
                };
                let headers = k
                    .map(|k| vec![("api-key".to_string(), k)])
                    .unwrap_or_default();
                Ok(Endpoint {
                    url,
                    dialect,
                    headers,
                })
            }
            ProviderKind::Custom => {
                let base = agent.url.clone().ok_or(ProviderError::MissingEndpoint {
                    var: "url".into(),
                    provider: "custom".into(),
                })?;
                let url = with_query(&realtime_url(&base, "/realtime")?, "model", &model);
                let headers = key("REHEARSE_API_KEY", false)?
                    .map(|k| {
                        vec![(
                            "Authorization".to_string(),
                            Secret::new(format!("Bearer {}", k.expose())),
                        )]
                    })
                    .unwrap_or_default();
                Ok(Endpoint {
                    url,
                    dialect: Dialect::Ga,
                    headers,
                })
            }
        }
    }

    /// A plain endpoint (the local emulator, tests).
    pub fn local(url: &str, dialect: Dialect) -> Endpoint {
        Endpoint {
            url: url.to_string(),
            dialect,
            headers: if dialect == Dialect::Beta {
                vec![("OpenAI-Beta".into(), Secret::new("realtime=v1".into()))]
            } else {
                vec![]
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn agent(provider: ProviderKind) -> AgentFile {
        crate::config::parse_yaml(
            std::path::Path::new("a.yaml"),
            &format!(
                "name: a\nprovider: {}\n",
                serde_json::to_value(provider).unwrap().as_str().unwrap()
            ),
        )
        .unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn openai_follows_sdk_base_url_convention() {
        let e = Endpoint::resolve(
            &agent(ProviderKind::Openai),
            &env(&[
                ("OPENAI_API_KEY", "sk-test"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1"),
            ]),
        )
        .unwrap();
        assert_eq!(e.url, "ws://127.0.0.1:9000/v1/realtime?model=gpt-realtime");
        assert_eq!(e.dialect, Dialect::Ga);
        assert_eq!(e.headers[0].1.expose(), "Bearer sk-test");
        assert!(
            !format!("{e:?}").contains("sk-test"),
            "keys never reach Debug output"
        );
    }

    #[test]
    fn openai_default_is_the_public_api() {
        let e = Endpoint::resolve(
            &agent(ProviderKind::Openai),
            &env(&[("OPENAI_API_KEY", "k")]),
        )
        .unwrap();
        assert_eq!(e.url, "wss://api.openai.com/v1/realtime?model=gpt-realtime");
    }

    #[test]
    fn missing_key_names_the_variable() {
        let err = Endpoint::resolve(&agent(ProviderKind::Openai), &env(&[])).unwrap_err();
        assert_eq!(
            err,
            ProviderError::MissingKey {
                var: "OPENAI_API_KEY".into(),
                provider: "openai".into()
            }
        );
    }

    #[test]
    fn beta_sends_the_beta_header() {
        let e = Endpoint::resolve(
            &agent(ProviderKind::OpenaiBeta),
            &env(&[("OPENAI_API_KEY", "k")]),
        )
        .unwrap();
        assert_eq!(e.dialect, Dialect::Beta);
        assert!(
            e.headers
                .iter()
                .any(|(h, v)| h == "OpenAI-Beta" && v.expose() == "realtime=v1")
        );
    }

    #[test]
    fn azure_ga_and_preview_urls() {
        let vars = env(&[
            ("AZURE_OPENAI_API_KEY", "az"),
            ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"),
        ]);
        let mut a = agent(ProviderKind::Azure);
        a.model = Some("my-deployment".into());
        let ga = Endpoint::resolve(&a, &vars).unwrap();
        assert_eq!(
            ga.url,
            "wss://res.openai.azure.com/openai/v1/realtime?model=my-deployment"
        );
        assert_eq!(ga.headers[0].0, "api-key");
        a.api_version = Some("2025-04-01-preview".into());
        let preview = Endpoint::resolve(&a, &vars).unwrap();
        assert_eq!(
            preview.url,
            "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=my-deployment"
        );
        assert_eq!(preview.dialect, Dialect::Beta);
    }

    #[test]
    fn custom_urls_keep_an_explicit_realtime_path() {
        assert_eq!(
            realtime_url("ws://h:1/v1/realtime", "/realtime").unwrap(),
            "ws://h:1/v1/realtime"
        );
        assert!(realtime_url("ftp://h", "/realtime").is_err());
    }
}
