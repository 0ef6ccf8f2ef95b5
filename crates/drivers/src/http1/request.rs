//! Requests serialised once, before the run, so the hot path only copies bytes to a socket.

use meshbench_core::RequestSpec;

use crate::endpoint::Endpoint;

#[derive(Debug, Clone)]
pub(crate) struct SerializedRequest {
    bytes: Vec<u8>,
    head: bool,
}

impl SerializedRequest {
    pub(crate) fn new(spec: &RequestSpec, endpoint: &Endpoint) -> crate::Result<Self> {
        let url = url::Url::parse(&spec.url)
            .map_err(|e| meshbench_core::Error::invalid("url", format!("`{}`: {e}", spec.url)))?;
        let mut target = url.path().to_string();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        let method = spec.method.to_ascii_uppercase();
        let has = |name: &str| {
            spec.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", endpoint.authority));
        }
        if !has("user-agent") {
            head.push_str(concat!(
                "User-Agent: meshbench/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ));
        }
        for (name, value) in &spec.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = spec.body.as_deref().unwrap_or_default().as_bytes();
        if (!body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH"))
            && !has("content-length")
        {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Ok(SerializedRequest {
            bytes,
            head: method == "HEAD",
        })
    }

    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    #[inline]
    pub(crate) fn is_head(&self) -> bool {
        self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_a_post_with_headers_and_body() {
        let endpoint = Endpoint::resolve("http://127.0.0.1:8080/").unwrap();
        let spec = RequestSpec {
            method: "post".into(),
            url: "http://127.0.0.1:8080/a/b?x=1".into(),
            headers: vec![("X-Test".into(), "yes".into())],
            body: Some("hello".into()),
        };
        let r = SerializedRequest::new(&spec, &endpoint).unwrap();
        let text = String::from_utf8(r.bytes().to_vec()).unwrap();
        assert!(
            text.starts_with("POST /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Test: yes\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"));
        assert!(!r.is_head());
    }
}
