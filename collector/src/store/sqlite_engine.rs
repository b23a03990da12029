//! SQLite side of the analysis engine's storage: its snapshot, new outcomes and
//! maintenance windows (the SQL behind those [`Store`](crate::store::Store) methods).

use super::SqliteStore;
use crate::store::{
    outcome_row, DbError, EngineSnapshotRow, MaintenanceRow, OutcomeRow, OutcomeTuple,
    OUTCOME_COLUMNS,
};
use std::collections::BTreeMap;

type SnapshotTuple = (i64, i64, String, String, i64, String);
type MaintenanceTuple = (i64, i64, i64, String, String, String, i64);

pub(crate) fn maintenance_row(t: MaintenanceTuple) -> Result<MaintenanceRow, DbError> {
    let hosts: Vec<String> = serde_json::from_str(&t.3)
        .map_err(|e| DbError::Corrupt(format!("maintenance window {}: hosts: {e}", t.0)))?;
    let labels: BTreeMap<String, String> = serde_json::from_str(&t.4)
        .map_err(|e| DbError::Corrupt(format!("maintenance window {}: labels: {e}", t.0)))?;
    Ok(MaintenanceRow {
        id: t.0,
        start_ms: t.1,
        end_ms: t.2,
        hosts,
        labels,
        reason: t.5,
        created_ms: t.6,
    })
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(e.to_string()))
}

impl SqliteStore {
    pub(super) async fn engine_save_snapshot(&self, s: &EngineSnapshotRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO engine_snapshots (id, taken_ms, watermark_ms, rules_version, fed, \
             outcome_after, body) VALUES (1, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET taken_ms = excluded.taken_ms, \
             watermark_ms = excluded.watermark_ms, rules_version = excluded.rules_version, \
             fed = excluded.fed, outcome_after = excluded.outcome_after, body = excluded.body",
        )
        .bind(s.taken_ms)
        .bind(s.watermark_ms)
        .bind(&s.rules_version)
        .bind(&s.fed)
        .bind(s.outcome_after)
        .bind(&s.body)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(super) async fn engine_load_snapshot(&self) -> Result<Option<EngineSnapshotRow>, DbError> {
        let row: Option<SnapshotTuple> = sqlx::query_as(
            "SELECT taken_ms, watermark_ms, rules_version, fed, outcome_after, body \
             FROM engine_snapshots WHERE id = 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|t| EngineSnapshotRow {
            taken_ms: t.0,
            watermark_ms: t.1,
            rules_version: t.2,
            fed: t.3,
            outcome_after: t.4,
            body: t.5,
        }))
    }

    pub(super) async fn engine_outcomes_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<OutcomeRow>, DbError> {
        let rows: Vec<OutcomeTuple> = sqlx::query_as(&format!(
            "SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(outcome_row).collect())
    }

    pub(super) async fn engine_add_maintenance(&self, w: &MaintenanceRow) -> Result<i64, DbError> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO maintenance_windows (start_ms, end_ms, hosts, labels, reason, \
             created_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(w.start_ms)
        .bind(w.end_ms)
        .bind(json_text(&w.hosts)?)
        .bind(json_text(&w.labels)?)
        .bind(&w.reason)
        .bind(w.created_ms)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    pub(super) async fn engine_maintenance(
        &self,
        now_ms: i64,
    ) -> Result<Vec<MaintenanceRow>, DbError> {
        let rows: Vec<MaintenanceTuple> = sqlx::query_as(
            "SELECT id, start_ms, end_ms, hosts, labels, reason, created_ms \
             FROM maintenance_windows WHERE deleted_ms IS NULL AND end_ms > ? ORDER BY id",
        )
        .bind(now_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(maintenance_row).collect()
    }

    pub(super) async fn engine_delete_maintenance(
        &self,
        id: i64,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE maintenance_windows SET deleted_ms = ? WHERE id = ? AND deleted_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
