//! `sae rules get | apply | delete`: a service's governance rule documents.
//!
//! `apply` checks a document with `sae_governance::rules::compile_text`,
//! the code every instance runs before it applies one, so a document an
//! instance would refuse is never written, then writes it with
//! `sae_governance::rules::apply`.

use std::io::{Read, Write};
use std::path::Path;

use sae_core::rules::{MAX_RULE_TEXT_BYTES, RuleDocument, RuleFormat, RuleKind};
use sae_core::{Registry, ServiceName};
use sae_governance::rules::{KNOWN_KINDS, compile_text};
use serde_json::{Value, json};

use crate::args::Apply;
use crate::error::CliError;
use crate::services::write_json;

/// `sae rules get SERVICE KIND`: the text on `out`, exactly as stored; its
/// format and revision on `err`, so `out` can be applied again. With
/// `json`, one object `{service, kind, format, revision, text}` on `out`.
///
/// # Errors
///
/// [`CliError::NotFound`] when the service has no document of `kind`,
/// [`CliError::Registry`] when the registry call fails.
pub async fn get(
    registry: &dyn Registry,
    service: &ServiceName,
    kind: &RuleKind,
    out: &mut dyn Write,
    err: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let snapshot = registry
        .list_rules(service)
        .await
        .map_err(CliError::registry)?;
    if let Some(unreadable) = snapshot.unreadable.iter().find(|bad| &bad.kind == kind) {
        return Err(CliError::Invalid(format!(
            "the stored {kind} rules of {} (revision {}) are not a document this build can read; instances refuse them and keep their running rules: {}",
            service.as_str(),
            unreadable.revision.0,
            unreadable.error
        )));
    }
    let Some(stored) = snapshot.get(kind) else {
        return Err(CliError::NotFound(format!(
            "no {kind} rules of service {:?} are stored (key {})",
            service.as_str(),
            sae_core::rules::key(service, kind)
        )));
    };
    let document = &stored.document;
    if json {
        return write_json(
            out,
            &document_json(
                service,
                kind,
                json!({
                    "format": document.format.as_str(),
                    "revision": stored.revision.0,
                    "text": document.text,
                }),
            ),
        );
    }
    out.write_all(document.text.as_bytes())?;
    if !document.text.ends_with('\n') {
        writeln!(out)?;
    }
    out.flush()?;
    writeln!(
        err,
        "sae: {kind} rules of {}: {}, revision {}",
        service.as_str(),
        document.format.as_str(),
        stored.revision.0
    )?;
    Ok(())
}

/// A rules document read and checked by [`check`], ready to write.
#[derive(Debug)]
pub struct Checked {
    document: RuleDocument,
    /// How many rules it holds.
    rules: usize,
}

/// Reads `apply.file` (`-`: `stdin`) and checks it as every instance will.
/// Needs no registry.
///
/// # Errors
///
/// [`CliError::Usage`] for a kind this build does not know, or a format
/// that neither `--format` nor the extension gives; [`CliError::Invalid`]
/// for a file that cannot be read or that the check refuses (the message
/// names the rule and the field).
pub fn check(apply: &Apply, stdin: &mut dyn Read) -> Result<Checked, CliError> {
    if !KNOWN_KINDS.contains(&apply.kind.as_str()) {
        return Err(CliError::Usage(format!(
            "unknown rule kind {:?}; this build checks {}",
            apply.kind.as_str(),
            KNOWN_KINDS.join(", ")
        )));
    }
    let from_stdin = apply.file == Path::new("-");
    let format = match (apply.format, from_stdin) {
        (Some(format), _) => format,
        (None, true) => {
            return Err(CliError::Usage(
                "reading rules from stdin (-) needs --format yaml|json|toml".into(),
            ));
        }
        (None, false) => RuleFormat::from_path(&apply.file).ok_or_else(|| {
            CliError::Usage(format!(
                "cannot tell the format of {} from its extension (.yaml, .yml, .json or .toml); add --format yaml|json|toml",
                apply.file.display()
            ))
        })?,
    };
    let (origin, text) = if from_stdin {
        ("stdin".to_owned(), read_text(stdin, "stdin")?)
    } else {
        let origin = apply.file.display().to_string();
        let mut file = std::fs::File::open(&apply.file)
            .map_err(|error| CliError::Invalid(format!("cannot read {origin}: {error}")))?;
        let text = read_text(&mut file, &origin)?;
        (origin, text)
    };
    check_text(&apply.service, &apply.kind, format, text, &origin)
}

/// Reads at most one byte more than a document may hold: enough to say
/// it is too large without reading all of a huge file.
fn read_text(input: &mut dyn Read, origin: &str) -> Result<String, CliError> {
    let limit = u64::try_from(MAX_RULE_TEXT_BYTES).unwrap_or(u64::MAX) + 1;
    let mut bytes = Vec::new();
    input
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| CliError::Invalid(format!("cannot read {origin}: {error}")))?;
    String::from_utf8(bytes).map_err(|error| {
        CliError::Invalid(format!(
            "{origin} is not UTF-8 text (byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Checks `text` as `service`'s `kind` rules in `format`; `origin` names
/// where it came from in messages.
///
/// # Errors
///
/// [`CliError::Invalid`] saying why the document cannot be used.
pub fn check_text(
    service: &ServiceName,
    kind: &RuleKind,
    format: RuleFormat,
    text: String,
    origin: &str,
) -> Result<Checked, CliError> {
    let refused = |error: sae_core::Error| {
        CliError::Invalid(format!(
            "{origin} is not valid {kind} rules of {}: {error}",
            service.as_str()
        ))
    };
    let document =
        RuleDocument::new(service.as_str(), kind.as_str(), format, text).map_err(refused)?;
    let rules = compile_text(kind, &document.text, format)
        .map_err(refused)?
        .len();
    Ok(Checked { document, rules })
}

/// `sae rules apply --dry-run`: says the document is valid and prints what
/// would be written (the key, the format, the text), writing nothing.
///
/// # Errors
///
/// [`CliError::Output`] when `out` cannot be written.
pub fn dry_run(checked: &Checked, out: &mut dyn Write, json: bool) -> Result<(), CliError> {
    let Checked { document, rules } = checked;
    let key = sae_core::rules::key(&document.service, &document.kind);
    if json {
        return write_json(
            out,
            &document_json(
                &document.service,
                &document.kind,
                json!({
                    "dry_run": true,
                    "format": document.format.as_str(),
                    "rules": rules,
                    "text": document.text,
                }),
            ),
        );
    }
    writeln!(
        out,
        "dry run: {} rules of {} are valid ({}); nothing written. Would write {key} ({}):",
        document.kind,
        document.service.as_str(),
        count(*rules),
        document.format.as_str()
    )?;
    out.write_all(document.text.as_bytes())?;
    if !document.text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// `sae rules apply`: writes a checked document and prints the revision;
/// notes on `err` when no instance of the service is registered (a typo in
/// the service name writes rules nobody follows).
///
/// # Errors
///
/// [`CliError::Registry`] when the write fails.
pub async fn apply(
    registry: &dyn Registry,
    checked: Checked,
    out: &mut dyn Write,
    err: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let Checked { document, rules } = checked;
    let (service, kind, format) = (
        document.service.clone(),
        document.kind.clone(),
        document.format,
    );
    // The same call the canary_rollout demo makes: check, then write.
    let revision = sae_governance::rules::apply(registry, document)
        .await
        .map_err(CliError::registry)?
        .revision;
    if registry
        .list(&service)
        .await
        .is_ok_and(|snapshot| snapshot.instances.is_empty())
    {
        writeln!(
            err,
            "sae: note: no instance of service {:?} is registered; instances apply these rules when they start",
            service.as_str()
        )?;
    }
    if json {
        return write_json(
            out,
            &document_json(
                &service,
                &kind,
                json!({
                    "dry_run": false,
                    "format": format.as_str(),
                    "rules": rules,
                    "revision": revision.0,
                }),
            ),
        );
    }
    // Written, not yet applied: each instance applies it when its watch
    // delivers it (`sae rules status` shows how far it has reached).
    writeln!(
        out,
        "wrote {kind} rules of {}: {}, revision {}",
        service.as_str(),
        count(rules),
        revision.0
    )?;
    Ok(())
}

/// `sae rules delete SERVICE KIND`: deletes the document and prints the
/// revision of the delete.
///
/// # Errors
///
/// [`CliError::NotFound`] when there was no document (nothing was
/// deleted), [`CliError::Registry`] when the registry call fails.
pub async fn delete(
    registry: &dyn Registry,
    service: &ServiceName,
    kind: &RuleKind,
    out: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let deleted = registry
        .delete_rules(service, kind)
        .await
        .map_err(CliError::registry)?;
    let Some(revision) = deleted else {
        return Err(CliError::NotFound(format!(
            "no {kind} rules of service {:?} are stored; nothing was deleted",
            service.as_str()
        )));
    };
    if json {
        return write_json(
            out,
            &document_json(service, kind, json!({ "revision": revision.0 })),
        );
    }
    writeln!(
        out,
        "deleted {kind} rules of {}: revision {}",
        service.as_str(),
        revision.0
    )?;
    Ok(())
}

/// The `--json` document of a rules command: the document's service, kind
/// and key, then `fields`.
fn document_json(service: &ServiceName, kind: &RuleKind, fields: Value) -> Value {
    let mut document = json!({
        "service": service.as_str(),
        "kind": kind.as_str(),
        "key": sae_core::rules::key(service, kind),
    });
    if let (Value::Object(document), Value::Object(fields)) = (&mut document, fields) {
        document.extend(fields);
    }
    document
}

/// `1 rule`, `2 rules`.
pub(crate) fn count(rules: usize) -> String {
    if rules == 1 {
        "1 rule".to_owned()
    } else {
        format!("{rules} rules")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sae_registry::MemoryRegistry;
    use serde_json::Value;

    use super::*;

    const LANES: &str =
        "rules:\n  - name: beta\n    lane: gray\n    headers: [{ name: x-group, exact: beta }]\n";

    fn edge() -> ServiceName {
        ServiceName::new("edge").unwrap()
    }

    fn lanes() -> RuleKind {
        RuleKind::new("lanes").unwrap()
    }

    fn apply_args(kind: &str, file: &str, format: Option<RuleFormat>) -> Apply {
        Apply {
            service: edge(),
            kind: RuleKind::new(kind).unwrap(),
            file: PathBuf::from(file),
            format,
            dry_run: false,
        }
    }

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn apply_writes_and_get_reads_back_the_text_and_revision() {
        let registry = MemoryRegistry::new();
        let checked =
            check_text(&edge(), &lanes(), RuleFormat::Yaml, LANES.into(), "f.yaml").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        apply(&registry, checked, &mut out, &mut err, false)
            .await
            .unwrap();
        let revision = registry.revision().0;
        assert_eq!(
            text(out),
            format!("wrote lanes rules of edge: 1 rule, revision {revision}\n")
        );
        assert_eq!(
            text(err),
            "sae: note: no instance of service \"edge\" is registered; instances apply these rules when they start\n"
        );

        let (mut out, mut err) = (Vec::new(), Vec::new());
        get(&registry, &edge(), &lanes(), &mut out, &mut err, false)
            .await
            .unwrap();
        assert_eq!(text(out), LANES);
        assert_eq!(
            text(err),
            format!("sae: lanes rules of edge: yaml, revision {revision}\n")
        );

        let mut out = Vec::new();
        get(
            &registry,
            &edge(),
            &lanes(),
            &mut out,
            &mut Vec::new(),
            true,
        )
        .await
        .unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            json!({"service": "edge", "kind": "lanes", "key": "/sae/v1/rules/edge/lanes", "format": "yaml", "revision": revision, "text": LANES})
        );
    }

    #[tokio::test]
    async fn a_dry_run_prints_the_document_and_writes_nothing() {
        let registry = MemoryRegistry::new();
        let checked =
            check_text(&edge(), &lanes(), RuleFormat::Yaml, LANES.into(), "f.yaml").unwrap();
        let mut out = Vec::new();
        dry_run(&checked, &mut out, false).unwrap();
        assert_eq!(
            text(out),
            format!(
                "dry run: lanes rules of edge are valid (1 rule); nothing written. Would write /sae/v1/rules/edge/lanes (yaml):\n{LANES}"
            )
        );
        let error = get(
            &registry,
            &edge(),
            &lanes(),
            &mut Vec::new(),
            &mut Vec::new(),
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(error.exit_code(), 4);
        assert!(
            error.to_string().contains("/sae/v1/rules/edge/lanes"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn delete_prints_the_revision_or_says_there_was_none() {
        let registry = MemoryRegistry::new();
        let checked =
            check_text(&edge(), &lanes(), RuleFormat::Yaml, LANES.into(), "f.yaml").unwrap();
        apply(&registry, checked, &mut Vec::new(), &mut Vec::new(), false)
            .await
            .unwrap();
        let mut out = Vec::new();
        delete(&registry, &edge(), &lanes(), &mut out, false)
            .await
            .unwrap();
        let revision = registry.revision().0;
        assert_eq!(
            text(out),
            format!("deleted lanes rules of edge: revision {revision}\n")
        );

        let error = delete(&registry, &edge(), &lanes(), &mut Vec::new(), false)
            .await
            .unwrap_err();
        assert_eq!(error.exit_code(), 4);
        assert_eq!(
            error.to_string(),
            "no lanes rules of service \"edge\" are stored; nothing was deleted"
        );
    }

    #[test]
    fn refused_rules_name_the_rule_and_the_field() {
        let lane = "rules: [{ lane: \"no spaces\", path_prefix: /x }]";
        let error =
            check_text(&edge(), &lanes(), RuleFormat::Yaml, lane.into(), "bad.yaml").unwrap_err();
        assert_eq!(error.exit_code(), 3);
        let message = error.to_string();
        assert!(
            message.starts_with("bad.yaml is not valid lanes rules of edge: "),
            "{message}"
        );
        assert!(message.contains("rules[0]"), "{message}");

        let retry = "rules: [{ strategy: { kind: retry, attempts: 0 } }]";
        let protection = RuleKind::new("protection").unwrap();
        let message = check_text(
            &edge(),
            &protection,
            RuleFormat::Yaml,
            retry.into(),
            "p.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("rules[0]") && message.contains("attempts"),
            "{message}"
        );
    }

    #[test]
    fn the_format_comes_from_the_flag_or_the_extension() {
        let dir = std::env::temp_dir().join(format!("sae-cli-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json_file = dir.join("rules.json");
        std::fs::write(
            &json_file,
            r#"{"rules": [{"lane": "gray", "path_prefix": "/b/"}]}"#,
        )
        .unwrap();
        let checked = check(
            &apply_args("lanes", json_file.to_str().unwrap(), None),
            &mut &b""[..],
        )
        .unwrap();
        assert_eq!(checked.document.format, RuleFormat::Json);
        assert_eq!(checked.rules, 1);

        let error = check(&apply_args("lanes", "rules.txt", None), &mut &b""[..]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--format"), "{error}");

        let missing = dir.join("missing.yaml");
        let error = check(
            &apply_args("lanes", missing.to_str().unwrap(), None),
            &mut &b""[..],
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), 3);
        assert!(error.to_string().starts_with("cannot read "), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stdin_needs_a_format() {
        let error = check(&apply_args("lanes", "-", None), &mut &b""[..]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let mut stdin = LANES.as_bytes();
        let checked = check(
            &apply_args("lanes", "-", Some(RuleFormat::Yaml)),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(checked.document.text, LANES);

        let mut binary = &[0xff_u8, 0xfe][..];
        let error = check(
            &apply_args("lanes", "-", Some(RuleFormat::Yaml)),
            &mut binary,
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), 3);
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }

    #[test]
    fn unknown_kinds_are_refused_before_reading() {
        let error = check(&apply_args("routes", "missing.yaml", None), &mut &b""[..]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("lanes, protection"), "{error}");
    }

    #[test]
    fn oversized_documents_are_invalid() {
        let huge = "#".repeat(MAX_RULE_TEXT_BYTES + 10);
        let error = check(
            &apply_args("lanes", "-", Some(RuleFormat::Yaml)),
            &mut huge.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), 3);
        assert!(error.to_string().contains("maximum"), "{error}");
    }
}
