//! Money between organisations: a mapping (a sync's or a trigger rule's)
//! that copies amounts or currencies between organisations whose base
//! currencies differ would copy figures unconverted, so it is refused.

use crate::config::{FieldMapping, ModuleRef, Source};
use crate::connector::FieldKind;

use super::{EngineError, Env};

/// Field names that carry a currency code rather than an amount.
const CURRENCY_FIELDS: &[&str] = &["currency_code", "currency_id", "Currency"];

/// Whether a mapping from `from` to `to` carries amounts or currencies: a
/// mapped field of kind currency on either side, or a currency-code field.
fn maps_money(env: &Env, from: &ModuleRef, to: &ModuleRef, fields: &[FieldMapping]) -> bool {
    let kind_of = |m: &ModuleRef, field: &str| {
        env.catalog()
            .describes
            .get(&m.connection)
            .and_then(|d| d.module(&m.module))
            .and_then(|m| m.field(field))
            .map(|f| f.kind)
    };
    let money = |m: &ModuleRef, path: &crate::config::FieldPath| {
        let head = path.head();
        CURRENCY_FIELDS.contains(&head) || kind_of(m, head) == Some(FieldKind::Currency)
    };
    fn walk(fields: &[FieldMapping], hit: &mut dyn FnMut(&FieldMapping) -> bool) -> bool {
        fields.iter().any(|f| {
            hit(f)
                || match &f.source {
                    Source::Items(items) => items.iter().any(|i| walk(i, hit)),
                    Source::Each { fields, .. } | Source::FirstOf(fields) => walk(fields, hit),
                    _ => false,
                }
        })
    }
    walk(fields, &mut |f| {
        money(to, &f.target.value) || matches!(&f.source, Source::Path(p) if money(from, &p.value))
    })
}

/// Refuse a mapping (a sync's, or a trigger rule's) that copies amounts
/// between organisations with different base currencies.
pub async fn check_between(
    env: &Env,
    name: &str,
    from: &ModuleRef,
    to: &ModuleRef,
    fields: &[FieldMapping],
) -> Result<(), EngineError> {
    if !maps_money(env, from, to, fields) {
        return Ok(());
    }
    let (from, to) = (&from.connection, &to.connection);
    if from == to {
        return Ok(());
    }
    if let (Some(a), Some(b)) = (env.base_currency(from).await?, env.base_currency(to).await?)
        && !a.eq_ignore_ascii_case(&b)
    {
        return Err(EngineError::Config {
            name: name.to_string(),
            message: format!(
                "it maps amounts or currencies, but `{from}`'s base currency is {a} and `{to}`'s is {b}: figures would be copied unconverted. Map between organisations with one base currency, or leave money fields out"
            ),
        });
    }
    Ok(())
}
