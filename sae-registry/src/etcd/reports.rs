//! Instances' rule reports: written under the registration's lease, read
//! by prefix.

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use sae_core::rules::{RuleReport, RuleReports, UnreadableReport};
use sae_core::{InstanceId, ServiceName};

use super::keys;

/// Puts `report` under `lease_id`, only while the instance key `instance_key`
/// still holds that lease (a lost registration must not write for its
/// successor). Returns whether it was written.
pub(super) async fn put(
    client: &mut Client,
    instance_key: &str,
    lease_id: i64,
    report: &RuleReport,
) -> Result<bool, etcd_client::Error> {
    let txn = Txn::new()
        .when([Compare::lease(instance_key, CompareOp::Equal, lease_id)])
        .and_then([TxnOp::put(
            report.key(),
            report.to_json(),
            Some(PutOptions::new().with_lease(lease_id)),
        )]);
    Ok(client.txn(txn).await?.succeeded())
}

/// Reads every report of `service`; values that are not reports of the
/// instance their key names are returned as [`UnreadableReport`]s.
pub(super) async fn list(
    client: &mut Client,
    service: &ServiceName,
) -> Result<RuleReports, etcd_client::Error> {
    let prefix = keys::reports_prefix(service);
    let answer = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await?;
    let mut reports = RuleReports::default();
    for kv in answer.kvs() {
        let key = keys::display(kv.key());
        let id = key
            .strip_prefix(prefix.as_str())
            .and_then(|id| InstanceId::new(id).ok());
        let decoded = RuleReport::from_json(kv.value()).map_err(|error| error.to_string());
        match (id, decoded) {
            (Some(id), Ok(report)) if report.id == id && &report.service == service => {
                reports.reports.push(report);
            }
            (_, Err(error)) => reports.unreadable.push(UnreadableReport { key, error }),
            (_, Ok(report)) => reports.unreadable.push(UnreadableReport {
                error: format!(
                    "the value is the report of instance {} of {}, not of this key",
                    report.id.as_str(),
                    report.service.as_str()
                ),
                key,
            }),
        }
    }
    reports.reports.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(reports)
}
