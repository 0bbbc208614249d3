//! Helpers shared by the integration tests.
#![allow(dead_code)]

use futures_util::StreamExt;
use serde_json::{json, Value};

/// A streamed response read to its end (or to its error).
pub struct Streamed {
    pub status: u16,
    pub content_type: String,
    pub raw: String,
    /// The body error, if the connection was cut.
    pub error: Option<String>,
}

impl Streamed {
    /// The payloads of the `data:` lines, in order.
    pub fn data(&self) -> Vec<String> {
        self.raw
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }

    /// The `data:` payloads that are JSON.
    pub fn chunks(&self) -> Vec<Value> {
        self.data()
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    }

    /// The concatenated `delta.content` of all chunks.
    pub fn content(&self) -> String {
        self.chunks()
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }
}

pub fn chat_body(messages: Value, stream: bool) -> Value {
    json!({
        "model": "mock-1",
        "messages": messages,
        "stream": stream,
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}],
        "temperature": 0,
        "some_unknown_field": {"x": 1}
    })
}

pub fn user(text: &str) -> Value {
    json!([{"role": "system", "content": "You are OpenCode."}, {"role": "user", "content": text}])
}

pub async fn post_raw(url: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

pub async fn stream_chat(base_url: &str, messages: Value) -> Streamed {
    let response = post_raw(
        &format!("{base_url}/chat/completions"),
        &chat_body(messages, true),
    )
    .await;
    read_stream(response).await
}

pub async fn read_stream(response: reqwest::Response) -> Streamed {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut bytes = Vec::new();
    let mut error = None;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Streamed {
        status,
        content_type,
        raw: String::from_utf8(bytes).expect("utf-8 body"),
        error,
    }
}
