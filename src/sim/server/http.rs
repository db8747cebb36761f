//! The shape of answers and requests: OKX's JSON envelope, error answers, query parameters,
//! cursors and newest-first pages.

use super::INST_TYPES;
use crate::sim::model::obj;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

pub(super) fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    let body = obj! { "code" => code, "msg" => msg, "data" => Vec::<Value>::new() };
    json_response(status, &body)
}

pub(super) fn ok(data: Vec<Value>) -> Response {
    let body = obj! { "code" => "0", "msg" => "", "data" => data };
    json_response(StatusCode::OK, &body)
}

/// An error answer, kept small until it becomes a [`Response`].
pub(super) struct Reject {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) msg: String,
}

impl Reject {
    pub(super) fn response(self) -> Response {
        error(self.status, self.code, &self.msg)
    }
}

pub(super) fn unauthorized(code: &'static str, msg: &str) -> Reject {
    Reject {
        status: StatusCode::UNAUTHORIZED,
        code,
        msg: msg.to_string(),
    }
}

pub(super) fn bad_param(name: &str) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        code: "51000",
        msg: format!("Parameter {name} error"),
    }
}

pub(super) fn missing_param(name: &str) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        code: "50014",
        msg: format!("Parameter {name} can not be empty"),
    }
}

/// Status 200 and a body that promises more bytes than it delivers: the connection is
/// closed mid-body and the client sees an incomplete response.
pub(super) fn dropped_response() -> Response {
    let partial = Bytes::from_static(br#"{"code":"0","msg":"","data":[{"billId":"#);
    let body = Body::from_stream(Body::from(partial).into_data_stream());
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "65536")
        .body(body)
        .unwrap_or_default()
}

/// Query parameters; empty values count as absent.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn parse(query: Option<&str>) -> Params {
        let map = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params(map)
    }

    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub(super) fn int(&self, k: &str) -> Result<Option<i64>, Reject> {
        self.get(k)
            .map(|v| v.parse::<i64>().map_err(|_| bad_param(k)))
            .transpose()
    }

    /// Matches a record value against an optional (comma-separated) filter.
    pub(super) fn matches(&self, k: &str, value: &str) -> bool {
        self.get(k)
            .is_none_or(|f| f.split(',').any(|x| x.trim() == value))
    }

    pub(super) fn cursor(&self) -> Result<Cursor, Reject> {
        let limit = match self.get("limit") {
            None => 100,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => return Err(bad_param("limit")),
            },
        };
        Ok(Cursor {
            after: self.int("after")?,
            before: self.int("before")?,
            begin: self.int("begin")?,
            end: self.int("end")?,
            limit,
        })
    }
}

pub(super) struct Cursor {
    pub(super) after: Option<i64>,
    pub(super) before: Option<i64>,
    pub(super) begin: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) limit: usize,
}

/// Newest-first page of `items` (sorted ascending by `key`, with `ts` non-decreasing):
/// keys strictly between `before` and `after`, `ts` at or after `cutoff` and inside
/// `[begin, end]`, kept by `keep`, at most `limit`.
pub(super) fn page<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> i64,
    ts: impl Fn(&T) -> i64,
    cutoff: i64,
    cur: &Cursor,
    keep: impl Fn(&T) -> bool,
) -> Vec<&'a T> {
    let hi = match cur.after {
        Some(a) => items.partition_point(|x| key(x) < a),
        None => items.len(),
    };
    let mut out = Vec::new();
    for x in items[..hi].iter().rev() {
        let t = ts(x);
        if cur.before.is_some_and(|b| key(x) <= b) || t < cutoff || cur.begin.is_some_and(|b| t < b) {
            break;
        }
        if cur.end.is_some_and(|e| t > e) || !keep(x) {
            continue;
        }
        out.push(x);
        if out.len() == cur.limit {
            break;
        }
    }
    out
}

pub(super) fn check_inst_type(p: &Params, required: bool) -> Result<(), Reject> {
    match p.get("instType") {
        None if required => Err(missing_param("instType")),
        Some(t) if !INST_TYPES.contains(&t) => Err(bad_param("instType")),
        _ => Ok(()),
    }
}

/// The answer to an endpoint the simulator does not serve.
pub(super) fn not_implemented() -> Reject {
    Reject {
        status: StatusCode::NOT_FOUND,
        code: "50115",
        msg: "Not implemented by the simulator.".into(),
    }
}
