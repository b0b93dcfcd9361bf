//! Conversation items and their content parts.
//!
//! Items use the GA content type names (`output_audio`, `output_text`); the beta
//! names (`audio`, `text`) are accepted on input as aliases and produced on
//! output by [`super::dialect`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields we do not model are kept, so traces carry everything the peer sent.
pub type Extra = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Item {
    #[serde(rename = "message")]
    Message(MessageItem),
    #[serde(rename = "function_call")]
    FunctionCall(FunctionCallItem),
    #[serde(rename = "function_call_output")]
    FunctionCallOutput(FunctionCallOutputItem),
    /// Only valid inside `response.create` `input`.
    #[serde(rename = "item_reference")]
    Reference(ItemReference),
}

impl Item {
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message(m) => m.id.as_deref(),
            Item::FunctionCall(c) => c.id.as_deref(),
            Item::FunctionCallOutput(o) => o.id.as_deref(),
            Item::Reference(r) => Some(&r.id),
        }
    }

    pub fn set_id(&mut self, id: String) {
        match self {
            Item::Message(m) => m.id = Some(id),
            Item::FunctionCall(c) => c.id = Some(id),
            Item::FunctionCallOutput(o) => o.id = Some(id),
            Item::Reference(r) => r.id = id,
        }
    }

    /// Unknown fields anywhere in the item, as dotted paths below `prefix`.
    pub fn unknown_fields(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let (extra, content) = match self {
            Item::Message(m) => (&m.extra, Some(&m.content)),
            Item::FunctionCall(c) => (&c.extra, None),
            Item::FunctionCallOutput(o) => (&o.extra, None),
            Item::Reference(r) => (&r.extra, None),
        };
        out.extend(extra.keys().map(|k| format!("{prefix}.{k}")));
        if let Some(content) = content {
            for (i, part) in content.iter().enumerate() {
                out.extend(
                    part.extra()
                        .keys()
                        .map(|k| format!("{prefix}.content[{i}].{k}")),
                );
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    pub role: Role,
    #[serde(default)]
    pub content: Vec<ContentPart>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub arguments: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    pub call_id: String,
    pub output: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemReference {
    pub id: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Completed,
    InProgress,
    Incomplete,
}

/// Content of a message item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ContentPart {
    #[serde(rename = "input_text")]
    InputText {
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio")]
    InputAudio {
        /// Base64 audio in the session's input format. Never present in items
        /// the server emits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        #[serde(default)]
        transcript: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_image")]
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_text", alias = "text")]
    OutputText {
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_audio", alias = "audio")]
    OutputAudio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        #[serde(default)]
        transcript: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
}

impl ContentPart {
    pub fn extra(&self) -> &Extra {
        match self {
            ContentPart::InputText { extra, .. }
            | ContentPart::InputAudio { extra, .. }
            | ContentPart::InputImage { extra, .. }
            | ContentPart::OutputText { extra, .. }
            | ContentPart::OutputAudio { extra, .. } => extra,
        }
    }

    /// The words of this part, if it has any: text, or an audio transcript.
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText { text, .. } | ContentPart::OutputText { text, .. } => {
                Some(text)
            }
            ContentPart::InputAudio { transcript, .. }
            | ContentPart::OutputAudio { transcript, .. } => transcript.as_deref(),
            ContentPart::InputImage { .. } => None,
        }
    }
}

/// The part carried by `response.content_part.added/done`. GA uses `audio` and
/// `text` here, unlike the item's own content (`output_audio`, `output_text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ResponsePart {
    #[serde(rename = "audio", alias = "output_audio")]
    Audio {
        #[serde(default)]
        transcript: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "text", alias = "output_text")]
    Text {
        #[serde(default)]
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
}
