//! Default field pairs: a sync that gives no `fields` between two modules
//! whose connectors pair them (Zoho CRM Products ↔ Books, Invoice and
//! Billing items) maps the manifest's pairs, both ways for a two-way sync.

use super::catalog::Catalog;
use super::model::{FieldMapping, ModuleRef, Source, Spanned, SyncConfig, Workspace};
use super::path::FieldPath;

/// `(this side's field, other side's field)` pairs for a sync from `from`
/// to `to`, as the target ← source pairs the sync maps; `None` when no
/// manifest pairs the two modules.
fn pairs(
    ws: &Workspace,
    from: &ModuleRef,
    to: &ModuleRef,
    catalog: &dyn Catalog,
) -> Option<Vec<(String, String)>> {
    let connector = |m: &ModuleRef| ws.connector_of(&m.connection).map(str::to_owned);
    let (from_c, to_c) = (connector(from)?, connector(to)?);
    // The target's manifest pairing its module with the source's …
    if let Some(p) = catalog.manifest(&to_c).and_then(|m| {
        m.field_pairs
            .iter()
            .find(|p| p.module == to.module && p.with == format!("{from_c}.{}", from.module))
    }) {
        return Some(
            p.fields
                .iter()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect(),
        );
    }
    // … or the source's manifest pairing them the other way round.
    catalog.manifest(&from_c).and_then(|m| {
        m.field_pairs
            .iter()
            .find(|p| p.module == from.module && p.with == format!("{to_c}.{}", to.module))
            .map(|p| {
                p.fields
                    .iter()
                    .map(|(s, t)| (t.clone(), s.clone()))
                    .collect()
            })
    })
}

fn mapping(sync: &SyncConfig, target: &str, source: &str) -> Option<FieldMapping> {
    let span = sync.span.clone();
    Some(FieldMapping::new(
        Spanned::new(FieldPath::parse(target).ok()?, span.clone()),
        Source::Path(Spanned::new(FieldPath::parse(source).ok()?, span.clone())),
        span,
    ))
}

impl Workspace {
    /// Give syncs without `fields` their connectors' default pairs, where
    /// the manifests (in `catalog`) have them.
    pub fn fill_default_fields(&mut self, catalog: &dyn Catalog) {
        let mut filled = Vec::new();
        for (name, sync) in &self.syncs {
            if !sync.fields.is_empty() {
                continue;
            }
            if let Some(p) = pairs(self, &sync.from, &sync.to, catalog) {
                let fields: Vec<FieldMapping> =
                    p.iter().filter_map(|(t, s)| mapping(sync, t, s)).collect();
                filled.push((name.clone(), fields));
            }
        }
        for (name, fields) in filled {
            if let Some(s) = self.syncs.get_mut(&name) {
                s.fields = fields;
            }
        }
    }
}
