//! `GET ...?watch=true`: a stream of `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
//! "object": ...}` lines. Starts with synthetic ADDED events when no resourceVersion is given
//! (or "0"), otherwise from just after the given revision; a compacted revision yields an
//! ERROR event carrying 410 Gone so clients relist. Objects moving into or out of the
//! label/field selector appear as ADDED or DELETED, as in Kubernetes.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use serde_json::{Value, json};
use tutti_store::{EventKind, StoreError};

use super::Req;
use super::list::{Filter, list_json, list_objects};
use crate::decoded::{Decoded, Side};
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Format};
use crate::objects;
use crate::table::{self, IncludeObject};

/// How often at most a bookmark is sent when nothing else happens.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

struct Encoder {
    kind: &'static str,
    api_version: String,
    format: Format,
    include: IncludeObject,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, ty: &str, obj: Value) -> Bytes {
        let object = match self.format {
            Format::Table if ty != "BOOKMARK" && ty != "ERROR" => {
                let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
                let mut t = table::table(
                    self.kind,
                    std::slice::from_ref(&obj),
                    meta,
                    self.include,
                    objects::now(),
                );
                if self.columns_sent
                    && let Some(o) = t.as_object_mut()
                {
                    o.remove("columnDefinitions");
                }
                self.columns_sent = true;
                t
            }
            Format::PartialMetadata if ty != "BOOKMARK" && ty != "ERROR" => json!({
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"],
            }),
            _ => obj,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// A watch line for an object shared with other watchers: plain JSON streams copy its
    /// encoding as it is, metadata-only streams its raw `metadata`; tables build their own
    /// from its value.
    fn decoded_line(&mut self, ty: &str, obj: &Decoded) -> Bytes {
        if matches!(self.format, Format::Json) {
            return self.json_line(ty, &obj.json);
        }
        if matches!(self.format, Format::PartialMetadata)
            && let Some(meta) = obj.metadata()
        {
            let mut partial = Vec::with_capacity(meta.len() + 80);
            partial.extend_from_slice(
                br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
            );
            partial.extend_from_slice(meta);
            partial.push(b'}');
            return self.json_line(ty, &partial);
        }
        self.line(ty, obj.value().cloned().unwrap_or_default())
    }

    /// A watch line around an object already encoded as JSON.
    fn json_line(&self, ty: &str, json: &[u8]) -> Bytes {
        let mut line = Vec::with_capacity(json.len() + 40);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(ty.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(json);
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }

    fn bookmark(&mut self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": meta});
        self.line("BOOKMARK", obj)
    }
}

fn gone(requested: i64, compacted: i64) -> Value {
    ApiError::Gone {
        requested,
        compacted,
    }
    .status()
}

pub async fn watch(req: Req) -> ApiResult<Response> {
    let t = req.target.clone();
    let info = t.info;
    let filter = Filter::from_params(info, &req.params)?;
    let only_name = t.name.clone();
    // Every object matches: no need to look at what an update replaced.
    let everything = filter.is_empty() && only_name.is_none();
    let matches = move |obj: &Value| {
        filter.matches(obj) && only_name.as_deref().is_none_or(|n| objects::name(obj) == n)
    };
    let rv = req.params.get("resourceVersion").unwrap_or("").to_string();
    let send_initial = req.params.get("sendInitialEvents") == Some("true");
    let bookmarks = req.params.flag("allowWatchBookmarks");
    let timeout = match req.params.get("timeoutSeconds") {
        Some(s) => Duration::from_secs(
            s.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds {s:?}")))?,
        ),
        None => Duration::from_secs(1800 + rand::rng().random_range(0..1800)),
    };
    let mut enc = Encoder {
        kind: info.kind,
        api_version: info.api_version(),
        format: negotiate::format(&req.headers),
        include: IncludeObject::parse(req.params.get("includeObject")),
        columns_sent: false,
    };
    let mut head: Vec<Bytes> = Vec::new();
    let from = if rv.is_empty() || rv == "0" || send_initial {
        let mut lp = req.params.clone();
        lp.insert("limit", "0");
        lp.insert("continue", "");
        let meta = if matches!(enc.format, Format::Json) && t.name.is_none() {
            let (items, meta) = list_json(&req.api, info, t.ns(), &lp).await?;
            head.extend(items.iter().map(|json| enc.json_line("ADDED", json)));
            meta
        } else {
            let (items, meta) = list_objects(&req.api, info, t.ns(), &lp).await?;
            for obj in items.into_iter().filter(|o| only_name_ok(o, &t.name)) {
                head.push(enc.line("ADDED", obj));
            }
            meta
        };
        let list_rev: i64 = meta["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if send_initial && bookmarks {
            head.push(enc.bookmark(list_rev, true));
        }
        list_rev + 1
    } else {
        objects::parse_rv(&rv)?.unwrap_or(0) + 1
    };
    let prefix = info.namespace_prefix(t.ns());
    let store_stream = match req.api.store.watch(&prefix, from).await {
        Ok(s) => Some(s),
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            head.push(enc.line("ERROR", gone(requested - 1, compacted)));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let api = req.api.clone();
    let body = async_stream::stream! {
        for line in head {
            yield Ok::<Bytes, Infallible>(line);
        }
        let Some(mut events) = store_stream else { return };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut last_bookmark = tokio::time::Instant::now();
        loop {
            let next = tokio::select! {
                _ = &mut deadline => break,
                n = events.next() => n,
            };
            let resp = match next {
                Some(Ok(r)) => r,
                Some(Err(StoreError::Compacted { requested, compacted })) => {
                    yield Ok(enc.line("ERROR", gone(requested, compacted)));
                    break;
                }
                Some(Err(_)) | None => break,
            };
            if resp.events.is_empty() {
                if bookmarks && last_bookmark.elapsed() >= BOOKMARK_EVERY {
                    last_bookmark = tokio::time::Instant::now();
                    yield Ok(enc.bookmark(resp.revision, false));
                }
                continue;
            }
            for ev in resp.events {
                let rev = ev.revision();
                let cache = &api.decoded;
                let key = ev.kv.key.as_str();
                let prev = |p: &tutti_store::KeyValue| cache.get(rev, Side::Previous, key, &p.value).ok();
                let line = match ev.kind {
                    EventKind::Delete => {
                        let Some(p) = ev.prev.as_ref().and_then(prev) else { continue };
                        if !everything && !p.value().is_some_and(&matches) { continue; }
                        enc.decoded_line("DELETED", &p)
                    }
                    EventKind::Put => {
                        let Ok(obj) = cache.get(rev, Side::Current, key, &ev.kv.value) else { continue };
                        let was = match &ev.prev {
                            None => false,
                            Some(_) if everything => true,
                            Some(p) => prev(p).is_some_and(|p| p.value().is_some_and(&matches)),
                        };
                        match (was, everything || obj.value().is_some_and(&matches)) {
                            (true, true) => enc.decoded_line("MODIFIED", &obj),
                            (false, true) => enc.decoded_line("ADDED", &obj),
                            (true, false) => enc.decoded_line("DELETED", &obj),
                            (false, false) => continue,
                        }
                    }
                };
                yield Ok(line);
            }
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn only_name_ok(obj: &Value, name: &Option<String>) -> bool {
    name.as_deref().is_none_or(|n| objects::name(obj) == n)
}
