//! `sae rules status SERVICE`: which rule revision every instance of a
//! service runs, against the documents stored for it.
//!
//! Each provider publishes a [`RuleReport`] beside its registration on every
//! change; this command reads the instances, the stored documents and the
//! reports (three registry calls) and answers the operator's question after
//! `sae rules apply`: has the change reached every instance?
//!
//! [`Fleet`] holds what was read; the table, the summary and the JSON are
//! pure functions of it.

use std::collections::BTreeMap;
use std::io::Write;

use sae_core::rules::{KindStatus, RuleKind, RuleReport, RuleSource, UnreadableReport, report_key};
use sae_core::{Instance, InstanceId, Registry, Revision, ServiceName};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::services::write_json;
use crate::table::{Align, Table};

/// The most characters of a refusal's error the table shows; `--json` has
/// it in full.
const REFUSAL_WIDTH: usize = 60;

/// A stored document, as far as the status needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The revision of its write.
    pub revision: Revision,
    /// Whether it is a document this build reads; instances refuse one
    /// that is not (and report the refusal).
    pub readable: bool,
}

/// What `sae rules status` read from the registry.
#[derive(Debug)]
pub struct Fleet {
    /// The service.
    pub service: ServiceName,
    /// Its registered instances, sorted by id.
    pub instances: Vec<Instance>,
    /// Its stored documents by kind.
    pub documents: BTreeMap<RuleKind, Stored>,
    /// The reports of its instances by id; a report of an instance that is
    /// not registered (it left between the reads) is ignored.
    pub reports: BTreeMap<InstanceId, RuleReport>,
    /// Report values that could not be read.
    pub unreadable: Vec<UnreadableReport>,
}

/// How far one stored document has reached the registered instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindSummary {
    /// The document's kind.
    pub kind: RuleKind,
    /// The document.
    pub stored: Stored,
    /// Registered instances.
    pub instances: usize,
    /// Instances that have handled the document's revision: applied,
    /// refused or (pinned to local rules) ignored it.
    pub handled: usize,
    /// Of those, instances that refused it and kept their running rules.
    pub refused: usize,
    /// Instances with a report that have not handled it yet.
    pub pending: usize,
    /// Instances without a (readable) report.
    pub unreported: usize,
}

impl Fleet {
    /// The registered instances, each with its report if it has one.
    fn members(&self) -> impl Iterator<Item = (&Instance, Option<&RuleReport>)> {
        self.instances
            .iter()
            .map(|instance| (instance, self.reports.get(instance.id())))
    }

    /// One summary per stored document, by kind.
    pub fn summary(&self) -> Vec<KindSummary> {
        self.documents
            .iter()
            .map(|(kind, stored)| {
                let mut summary = KindSummary {
                    kind: kind.clone(),
                    stored: *stored,
                    instances: self.instances.len(),
                    handled: 0,
                    refused: 0,
                    pending: 0,
                    unreported: 0,
                };
                for (_, report) in self.members() {
                    let Some(report) = report else {
                        summary.unreported += 1;
                        continue;
                    };
                    match report.kinds.get(kind) {
                        Some(status) if status.has_handled(stored.revision) => {
                            summary.handled += 1;
                            if status
                                .refused
                                .as_ref()
                                .is_some_and(|refusal| refusal.revision >= stored.revision)
                            {
                                summary.refused += 1;
                            }
                        }
                        _ => summary.pending += 1,
                    }
                }
                summary
            })
            .collect()
    }

    /// The kinds the registered instances report that have no stored
    /// document, each with how many instances still run a registry
    /// document of it (the delete has not reached them).
    pub fn unstored(&self) -> BTreeMap<RuleKind, usize> {
        let mut kinds = BTreeMap::new();
        for (_, report) in self.members() {
            for (kind, status) in report.iter().flat_map(|report| &report.kinds) {
                if !self.documents.contains_key(kind) {
                    *kinds.entry(kind.clone()).or_insert(0) +=
                        usize::from(status.source == RuleSource::Registry);
                }
            }
        }
        kinds
    }

    /// The table: one row per registered instance and kind, by id then
    /// kind; one row for an instance without a report.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&[
            ("INSTANCE", Align::Left),
            ("KIND", Align::Left),
            ("SOURCE", Align::Left),
            ("RUNNING", Align::Right),
            ("HANDLED", Align::Right),
            ("REFUSED", Align::Left),
        ]);
        let dashes = |id: &InstanceId, what: &str| {
            [id.as_str(), "-", what, "-", "-", "-"]
                .map(str::to_owned)
                .to_vec()
        };
        for (instance, report) in self.members() {
            let id = instance.id();
            match report {
                None => {
                    let key = report_key(&self.service, id);
                    let what = if self.unreadable.iter().any(|bad| bad.key == key) {
                        "unreadable report"
                    } else {
                        "no report"
                    };
                    table.row(dashes(id, what));
                }
                Some(report) if report.kinds.is_empty() => {
                    table.row(dashes(id, "follows no rules"));
                }
                Some(report) => {
                    for (kind, status) in &report.kinds {
                        table.row(kind_row(id, kind, status));
                    }
                }
            }
        }
        table
    }

    /// The human output: the table, then one line per kind.
    pub fn write_text(&self, out: &mut dyn Write) -> Result<(), CliError> {
        if self.instances.is_empty() {
            writeln!(
                out,
                "no instance of service {:?} is registered",
                self.service.as_str()
            )?;
        } else {
            self.table().write(out)?;
        }
        let summary = self.summary();
        let unstored = self.unstored();
        if !summary.is_empty() || !unstored.is_empty() {
            writeln!(out)?;
        }
        for kind in &summary {
            writeln!(out, "{}", summary_line(kind))?;
        }
        for (kind, registry) in &unstored {
            writeln!(out, "{}", unstored_line(kind, *registry))?;
        }
        Ok(())
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let documents: BTreeMap<&str, u64> = self
            .documents
            .iter()
            .map(|(kind, stored)| (kind.as_str(), stored.revision.0))
            .collect();
        let instances: Vec<Value> = self
            .members()
            .map(|(instance, report)| {
                let report = report.map(|report| {
                    let kinds: BTreeMap<&str, Value> = report
                        .kinds
                        .iter()
                        .map(|(kind, status)| (kind.as_str(), status.to_json_value()))
                        .collect();
                    json!({ "read": report.read, "kinds": kinds })
                });
                json!({
                    "id": instance.id().as_str(),
                    "address": instance.addr().to_string(),
                    "lane": instance.lane(),
                    "report": report,
                })
            })
            .collect();
        let summary: BTreeMap<String, Value> = self
            .summary()
            .into_iter()
            .map(|kind| {
                (
                    kind.kind.to_string(),
                    json!({
                        "revision": kind.stored.revision.0,
                        "readable": kind.stored.readable,
                        "instances": kind.instances,
                        "handled": kind.handled,
                        "refused": kind.refused,
                        "pending": kind.pending,
                        "unreported": kind.unreported,
                    }),
                )
            })
            .collect();
        let unreadable: Vec<Value> = self
            .unreadable
            .iter()
            .map(|bad| json!({ "key": bad.key, "error": bad.error }))
            .collect();
        json!({
            "service": self.service.as_str(),
            "documents": documents,
            "instances": instances,
            "summary": summary,
            "unreadable": unreadable,
        })
    }
}

/// One table row: a kind on an instance.
fn kind_row(id: &InstanceId, kind: &RuleKind, status: &KindStatus) -> Vec<String> {
    let revision = |revision: Option<Revision>| {
        revision.map_or_else(|| "-".to_owned(), |revision| revision.0.to_string())
    };
    let source = match &status.source {
        RuleSource::Local(path) => format!("local ({path})"),
        other => other.as_str().to_owned(),
    };
    let refused = status.refused.as_ref().map_or_else(
        || "-".to_owned(),
        |refusal| format!("{}: {}", refusal.revision.0, shorten(&refusal.error)),
    );
    vec![
        id.as_str().to_owned(),
        kind.as_str().to_owned(),
        source,
        revision(status.revision),
        revision(status.handled),
        refused,
    ]
}

/// An error on one line of at most [`REFUSAL_WIDTH`] characters.
fn shorten(error: &str) -> String {
    let line = error.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= REFUSAL_WIDTH {
        return line;
    }
    let mut short: String = line.chars().take(REFUSAL_WIDTH - 1).collect();
    short.push('…');
    short
}

/// `lanes: document at revision 45: handled by 2 of 3 instances (1 refused
/// it); 1 has not handled it yet; 0 without a report`.
fn summary_line(summary: &KindSummary) -> String {
    let KindSummary {
        kind,
        stored,
        instances,
        handled,
        refused,
        pending,
        unreported,
    } = summary;
    let document = if stored.readable {
        format!("document at revision {}", stored.revision.0)
    } else {
        format!(
            "unreadable value at revision {} (instances refuse it and keep their running rules)",
            stored.revision.0
        )
    };
    let noun = if *instances == 1 {
        "instance"
    } else {
        "instances"
    };
    let verb = if *pending == 1 { "has" } else { "have" };
    format!(
        "{kind}: {document}: handled by {handled} of {instances} {noun} ({refused} refused it); \
         {pending} {verb} not handled it yet; {unreported} without a report"
    )
}

/// `protection: no document stored; instances run their built or local
/// rules`, or how many still run a deleted document.
fn unstored_line(kind: &RuleKind, registry: usize) -> String {
    match registry {
        0 => format!("{kind}: no document stored; instances run their built or local rules"),
        1 => format!(
            "{kind}: no document stored; 1 instance still runs a deleted registry document (it has not handled the delete yet)"
        ),
        n => format!(
            "{kind}: no document stored; {n} instances still run a deleted registry document (they have not handled the delete yet)"
        ),
    }
}

/// Reads the instances, the stored documents and the reports of `service`.
///
/// # Errors
///
/// [`CliError::Registry`] when a registry call fails.
pub async fn read(registry: &dyn Registry, service: &ServiceName) -> Result<Fleet, CliError> {
    let (snapshot, rules, reports) = tokio::try_join!(
        registry.list(service),
        registry.list_rules(service),
        registry.rule_reports(service)
    )
    .map_err(CliError::registry)?;
    let mut instances: Vec<Instance> = snapshot
        .instances
        .into_iter()
        .map(|entry| entry.instance)
        .collect();
    instances.sort_by(|a, b| a.id().cmp(b.id()));
    let documents = rules
        .rules
        .iter()
        .map(|stored| {
            let revision = stored.revision;
            (
                stored.document.kind.clone(),
                Stored {
                    revision,
                    readable: true,
                },
            )
        })
        .chain(rules.unreadable.iter().map(|bad| {
            let revision = bad.revision;
            (
                bad.kind.clone(),
                Stored {
                    revision,
                    readable: false,
                },
            )
        }))
        .collect();
    Ok(Fleet {
        service: service.clone(),
        instances,
        documents,
        reports: reports
            .reports
            .into_iter()
            .map(|report| (report.id.clone(), report))
            .collect(),
        unreadable: reports.unreadable,
    })
}

/// `sae rules status SERVICE`: the table and the summary on `out` (with
/// `json`, one document), a warning on `err` per unreadable report.
///
/// # Errors
///
/// [`CliError::NotFound`] when the service has no registered instance and
/// no stored document, [`CliError::Registry`] when a registry call fails.
pub async fn status(
    registry: &dyn Registry,
    service: &ServiceName,
    out: &mut dyn Write,
    err: &mut dyn Write,
    json: bool,
) -> Result<(), CliError> {
    let fleet = read(registry, service).await?;
    if fleet.instances.is_empty() && fleet.documents.is_empty() {
        return Err(CliError::NotFound(format!(
            "no instance of service {:?} is registered and no rules of it are stored",
            service.as_str()
        )));
    }
    for bad in &fleet.unreadable {
        writeln!(
            err,
            "sae: warning: the rule report at {} cannot be read: {}",
            bad.key, bad.error
        )?;
    }
    if json {
        return write_json(out, &fleet.to_json());
    }
    fleet.write_text(out)
}

#[cfg(test)]
mod tests {
    use sae_core::rules::{Refusal, RuleDocument, RuleFormat};
    use sae_registry::MemoryRegistry;

    use super::*;

    const LANES: &str = "rules: [{ lane: gray, path_prefix: /beta/ }]";

    fn edge() -> ServiceName {
        ServiceName::new("edge").unwrap()
    }

    fn instance(id: &str, port: u16) -> Instance {
        Instance::builder("edge")
            .id(id)
            .addr(format!("127.0.0.1:{port}").parse().unwrap())
            .build()
            .unwrap()
    }

    fn status(source: RuleSource, running: Option<u64>, handled: Option<u64>) -> KindStatus {
        KindStatus {
            source,
            revision: running.map(Revision),
            refused: None,
            applied: u64::from(running.is_some()),
            handled: handled.map(Revision),
        }
    }

    fn report(id: &str, kinds: Vec<(RuleKind, KindStatus)>) -> RuleReport {
        RuleReport {
            service: edge(),
            id: InstanceId::new(id).unwrap(),
            read: true,
            kinds: kinds.into_iter().collect(),
        }
    }

    fn refused(mut status: KindStatus, revision: u64, error: &str) -> KindStatus {
        status.refused = Some(Refusal {
            revision: Revision(revision),
            error: error.into(),
        });
        status
    }

    /// Four instances against a lanes document at 45: e1 applied it, e2
    /// refused it, e3 is behind, e4 has no report; e9 reports but is gone.
    fn fleet() -> Fleet {
        let lanes = RuleKind::lanes;
        let protection = RuleKind::protection;
        let reports = [
            report(
                "e1",
                vec![
                    (lanes(), status(RuleSource::Registry, Some(45), Some(45))),
                    (protection(), status(RuleSource::Built, None, Some(45))),
                ],
            ),
            report(
                "e2",
                vec![(
                    lanes(),
                    refused(
                        status(RuleSource::Registry, Some(40), Some(45)),
                        45,
                        "/sae/v1/rules/edge/lanes: rules[0] (\"beta\").lane:\n  \"no spaces\" is not a lane name; a lane name is lowercase letters, digits and '-'",
                    ),
                )],
            ),
            report(
                "e3",
                vec![
                    (lanes(), status(RuleSource::Registry, Some(40), Some(40))),
                    (
                        protection(),
                        status(RuleSource::Local("/etc/p.yaml".into()), None, None),
                    ),
                ],
            ),
            report("e9", vec![(lanes(), status(RuleSource::Built, None, None))]),
        ];
        Fleet {
            service: edge(),
            instances: vec![
                instance("e1", 8081),
                instance("e2", 8082),
                instance("e3", 8083),
                instance("e4", 8084),
            ],
            documents: [(
                lanes(),
                Stored {
                    revision: Revision(45),
                    readable: true,
                },
            )]
            .into_iter()
            .collect(),
            reports: reports
                .into_iter()
                .map(|report| (report.id.clone(), report))
                .collect(),
            unreadable: Vec::new(),
        }
    }

    fn text(fleet: &Fleet) -> String {
        let mut out = Vec::new();
        fleet.write_text(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_summary_counts_handled_refused_pending_and_unreported_instances() {
        assert_eq!(
            fleet().summary(),
            [KindSummary {
                kind: RuleKind::lanes(),
                stored: Stored {
                    revision: Revision(45),
                    readable: true,
                },
                instances: 4,
                handled: 2,
                refused: 1,
                pending: 1,
                unreported: 1,
            }]
        );
        // A refusal of an older revision is not a refusal of this one; a
        // report without the kind has not handled it.
        let mut fleet = fleet();
        let e2 = fleet
            .reports
            .get_mut(&InstanceId::new("e2").unwrap())
            .unwrap();
        e2.kinds.get_mut(&RuleKind::lanes()).unwrap().refused = Some(Refusal {
            revision: Revision(44),
            error: "old".into(),
        });
        let e1 = fleet
            .reports
            .get_mut(&InstanceId::new("e1").unwrap())
            .unwrap();
        e1.kinds.remove(&RuleKind::lanes());
        let summary = &fleet.summary()[0];
        assert_eq!(
            (summary.handled, summary.refused, summary.pending),
            (1, 0, 2)
        );
        // Protection has no document: 0 instances still run a registry one.
        assert_eq!(
            fleet.unstored(),
            [(RuleKind::protection(), 0)].into_iter().collect()
        );
    }

    #[test]
    fn the_table_has_a_row_per_instance_and_kind_then_a_line_per_kind() {
        assert_eq!(
            text(&fleet()),
            "INSTANCE  KIND        SOURCE               RUNNING  HANDLED  REFUSED\n\
             e1        lanes       registry                  45       45  -\n\
             e1        protection  built                      -       45  -\n\
             e2        lanes       registry                  40       45  45: /sae/v1/rules/edge/lanes: rules[0] (\"beta\").lane: \"no space…\n\
             e3        lanes       registry                  40       40  -\n\
             e3        protection  local (/etc/p.yaml)        -        -  -\n\
             e4        -           no report                  -        -  -\n\
             \n\
             lanes: document at revision 45: handled by 2 of 4 instances (1 refused it); 1 has not handled it yet; 1 without a report\n\
             protection: no document stored; instances run their built or local rules\n"
        );
    }

    #[test]
    fn odd_reports_and_deleted_documents_are_said_plainly() {
        let mut fleet = fleet();
        fleet.documents.clear();
        fleet.unreadable.push(UnreadableReport {
            key: "/sae/v1/reports/edge/e4".into(),
            error: "not a sae rule report".into(),
        });
        let e3 = fleet
            .reports
            .get_mut(&InstanceId::new("e3").unwrap())
            .unwrap();
        e3.kinds.clear();
        let text = text(&fleet);
        assert!(
            text.contains("\ne3        -           follows no rules"),
            "{text}"
        );
        assert!(
            text.contains("\ne4        -           unreadable report"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\n\nlanes: no document stored; 2 instances still run a deleted registry document (they have not handled the delete yet)\n\
                 protection: no document stored; instances run their built or local rules\n"
            ),
            "{text}"
        );

        let unreadable = KindSummary {
            kind: RuleKind::lanes(),
            stored: Stored {
                revision: Revision(7),
                readable: false,
            },
            instances: 1,
            handled: 1,
            refused: 1,
            pending: 0,
            unreported: 0,
        };
        assert_eq!(
            summary_line(&unreadable),
            "lanes: unreadable value at revision 7 (instances refuse it and keep their running rules): handled by 1 of 1 instance (1 refused it); 0 have not handled it yet; 0 without a report"
        );
        assert_eq!(shorten("short\n  error"), "short error");
    }

    #[test]
    fn json_has_the_documents_the_instances_and_the_summary() {
        let value = fleet().to_json();
        assert_eq!(value["service"], "edge");
        assert_eq!(value["documents"], json!({ "lanes": 45 }));
        assert_eq!(
            value["summary"],
            json!({ "lanes": {
                "revision": 45, "readable": true, "instances": 4,
                "handled": 2, "refused": 1, "pending": 1, "unreported": 1,
            }})
        );
        let instances = value["instances"].as_array().unwrap();
        let ids: Vec<&str> = instances
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
        assert_eq!(instances[0]["address"], "127.0.0.1:8081");
        assert_eq!(instances[0]["lane"], Value::Null);
        assert_eq!(instances[3]["report"], Value::Null);
        assert_eq!(instances[1]["report"]["read"], true);
        let lanes = &instances[1]["report"]["kinds"]["lanes"];
        assert_eq!(lanes["refused"]["revision"], 45);
        // The error in full.
        assert!(
            lanes["refused"]["error"]
                .as_str()
                .unwrap()
                .ends_with("lowercase letters, digits and '-'")
        );
        assert_eq!(value["unreadable"], json!([]));
    }

    #[tokio::test]
    async fn status_reads_the_registry_and_an_unknown_service_is_not_found() {
        let registry = MemoryRegistry::new();
        let error = super::status(&registry, &edge(), &mut Vec::new(), &mut Vec::new(), false)
            .await
            .unwrap_err();
        assert_eq!(error.exit_code(), 4);
        assert_eq!(
            error.to_string(),
            "no instance of service \"edge\" is registered and no rules of it are stored"
        );

        // Rules, no instance: not an error.
        let written = registry
            .put_rules(RuleDocument::new("edge", "lanes", RuleFormat::Yaml, LANES).unwrap())
            .await
            .unwrap();
        let mut out = Vec::new();
        super::status(&registry, &edge(), &mut out, &mut Vec::new(), false)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "no instance of service \"edge\" is registered\n\n\
                 lanes: document at revision {}: handled by 0 of 0 instances (0 refused it); 0 have not handled it yet; 0 without a report\n",
                written.0
            )
        );

        let registration = registry.register(instance("e1", 8081)).await.unwrap();
        registration
            .report_rules(report(
                "e1",
                vec![(
                    RuleKind::lanes(),
                    status(RuleSource::Registry, Some(written.0), Some(written.0)),
                )],
            ))
            .await
            .unwrap();
        let fleet = read(&registry, &edge()).await.unwrap();
        let summary = &fleet.summary()[0];
        assert_eq!((summary.instances, summary.handled), (1, 1));
    }
}
