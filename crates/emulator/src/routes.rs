//! The emulated routes: method + path → operationId, path template and path parameters.
//!
//! Routing is a pure function rather than an axum `Router` because every call must be
//! named (for faults, counts, the request log and rate limits) before it is handled, and
//! unrouted calls must still be recorded. Templates use the spec's parameter names.

/// A routed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The spec's operationId.
    pub operation: &'static str,
    /// The path template, e.g. `/v1/groups/{group_id}`; the rate-limit key.
    pub template: &'static str,
    /// Decoded path parameters, in template order.
    pub params: Vec<String>,
}

/// The result of routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// An emulated operation.
    Found(Route),
    /// A known path with another method.
    MethodNotAllowed,
    /// No such path.
    NotFound,
}

/// Routes one request.
pub(crate) fn resolve(method: &str, path: &str) -> Resolved {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return Resolved::NotFound;
    };
    let raw: Vec<&str> = rest.split('/').collect();
    if raw.iter().any(|s| s.is_empty()) {
        return Resolved::NotFound;
    }
    let Some(segs) = raw
        .iter()
        .map(|s| percent_decode(s))
        .collect::<Option<Vec<String>>>()
    else {
        return Resolved::NotFound;
    };
    let found = |operation, template, params: &[usize]| {
        Resolved::Found(Route {
            operation,
            template,
            params: params.iter().map(|&i| segs[i].clone()).collect(),
        })
    };
    match (raw.as_slice(), method) {
        (["auth"], "POST") => found("auth", "/v1/auth", &[]),
        (["credentials"], "GET") => found("listCredentials", "/v1/credentials", &[]),
        (["credentials", _], m) => {
            const T: &str = "/v1/credentials/{credentials_id}";
            match m {
                "POST" => found("createCredential", T, &[1]),
                "PUT" => found("updateCredential", T, &[1]),
                "DELETE" => found("deleteCredential", T, &[1]),
                _ => Resolved::MethodNotAllowed,
            }
        }
        (["groups"], "GET") => found("listGroups", "/v1/groups", &[]),
        (["groups", _], "GET") => found("getGroup", "/v1/groups/{group_id}", &[1]),
        (["groups", _, "configuration", _], "PUT") => found(
            "putConfigurationParameters",
            "/v1/groups/{group_id}/configuration/{namespace}",
            &[1, 3],
        ),
        (["logs"], "GET") => found("getLogs", "/v1/logs", &[]),
        (["virtual_private_gateways"], "GET") => found(
            "listVirtualPrivateGateways",
            "/v1/virtual_private_gateways",
            &[],
        ),
        (["virtual_private_gateways", _], "GET") => found(
            "getVirtualPrivateGateway",
            "/v1/virtual_private_gateways/{vpg_id}",
            &[1],
        ),
        (["virtual_private_gateways", _, "junction", "set_inspection"], "POST") => found(
            "setInspectionConfiguration",
            "/v1/virtual_private_gateways/{vpg_id}/junction/set_inspection",
            &[1],
        ),
        (["event_handlers"], "GET") => found("listEventHandlers", "/v1/event_handlers", &[]),
        (["event_handlers", _], m) => {
            const T: &str = "/v1/event_handlers/{handler_id}";
            match m {
                "GET" => found("getEventHandler", T, &[1]),
                "PUT" => found("updateEventHandler", T, &[1]),
                _ => Resolved::MethodNotAllowed,
            }
        }
        (["operators", _, "auth_keys"], m) => {
            const T: &str = "/v1/operators/{operator_id}/auth_keys";
            match m {
                "GET" => found("listOperatorAuthKeys", T, &[1]),
                "POST" => found("generateOperatorAuthKey", T, &[1]),
                _ => Resolved::MethodNotAllowed,
            }
        }
        (["operators", _, "auth_keys", _], "DELETE") => found(
            "deleteOperatorAuthKey",
            "/v1/operators/{operator_id}/auth_keys/{auth_key_id}",
            &[1, 3],
        ),
        (["operators", _, "users", _, "auth_keys"], m) => {
            const T: &str = "/v1/operators/{operator_id}/users/{user_name}/auth_keys";
            match m {
                "GET" => found("listUserAuthKeys", T, &[1, 3]),
                "POST" => found("generateUserAuthKey", T, &[1, 3]),
                _ => Resolved::MethodNotAllowed,
            }
        }
        (["operators", _, "users", _, "auth_keys", _], "DELETE") => found(
            "deleteUserAuthKey",
            "/v1/operators/{operator_id}/users/{user_name}/auth_keys/{auth_key_id}",
            &[1, 3, 5],
        ),
        (["operators", _, "auth_keys", _] | ["operators", _, "users", _, "auth_keys", _], _) => {
            Resolved::MethodNotAllowed
        }
        (
            ["auth"] | ["credentials"] | ["groups"] | ["groups", _] | ["event_handlers"] | ["logs"],
            _,
        )
        | (["groups", _, "configuration", _], _) => Resolved::MethodNotAllowed,
        (
            ["virtual_private_gateways"]
            | ["virtual_private_gateways", _]
            | ["virtual_private_gateways", _, "junction", "set_inspection"],
            _,
        ) => Resolved::MethodNotAllowed,
        _ => Resolved::NotFound,
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str) -> Option<(&'static str, Vec<String>)> {
        match resolve(method, path) {
            Resolved::Found(r) => Some((r.operation, r.params)),
            _ => None,
        }
    }

    #[test]
    fn routes() {
        assert_eq!(op("POST", "/v1/auth"), Some(("auth", vec![])));
        assert_eq!(
            op("PUT", "/v1/credentials/a%20b"),
            Some(("updateCredential", vec!["a b".to_owned()]))
        );
        assert_eq!(
            op("PUT", "/v1/groups/g1/configuration/SoracomFunnel"),
            Some((
                "putConfigurationParameters",
                vec!["g1".to_owned(), "SoracomFunnel".to_owned()]
            ))
        );
        assert_eq!(
            op("PUT", "/v1/event_handlers/h").map(|r| r.0),
            Some("updateEventHandler")
        );
        assert_eq!(
            resolve("DELETE", "/v1/groups/g1"),
            Resolved::MethodNotAllowed
        );
        assert_eq!(resolve("GET", "/v1/credentials/"), Resolved::NotFound);
        assert_eq!(resolve("GET", "/auth"), Resolved::NotFound);
        assert_eq!(resolve("GET", "/v1/nothing"), Resolved::NotFound);
        assert_eq!(
            op("DELETE", "/v1/operators/OP1/users/u1/auth_keys/keyId-1"),
            Some((
                "deleteUserAuthKey",
                vec!["OP1".to_owned(), "u1".to_owned(), "keyId-1".to_owned()]
            ))
        );
        assert_eq!(
            op("POST", "/v1/operators/OP1/auth_keys").map(|r| r.0),
            Some("generateOperatorAuthKey")
        );
        assert_eq!(
            resolve("PUT", "/v1/operators/OP1/auth_keys"),
            Resolved::MethodNotAllowed
        );
        assert_eq!(resolve("GET", "/v1/credentials/%zz"), Resolved::NotFound);
        assert_eq!(op("GET", "/v1/logs"), Some(("getLogs", vec![])));
        assert_eq!(resolve("POST", "/v1/logs"), Resolved::MethodNotAllowed);
        assert_eq!(resolve("GET", "/v1/logs/x"), Resolved::NotFound);
        assert_eq!(
            op("GET", "/v1/virtual_private_gateways").map(|r| r.0),
            Some("listVirtualPrivateGateways")
        );
        assert_eq!(
            op("GET", "/v1/virtual_private_gateways/vpg-1"),
            Some(("getVirtualPrivateGateway", vec!["vpg-1".to_owned()]))
        );
        assert_eq!(
            op(
                "POST",
                "/v1/virtual_private_gateways/vpg-1/junction/set_inspection"
            ),
            Some(("setInspectionConfiguration", vec!["vpg-1".to_owned()]))
        );
        assert_eq!(
            resolve(
                "GET",
                "/v1/virtual_private_gateways/vpg-1/junction/set_inspection"
            ),
            Resolved::MethodNotAllowed
        );
        assert_eq!(
            resolve("POST", "/v1/virtual_private_gateways"),
            Resolved::MethodNotAllowed
        );
        assert_eq!(
            resolve(
                "POST",
                "/v1/virtual_private_gateways/vpg-1/junction/unset_inspection"
            ),
            Resolved::NotFound
        );
    }
}
