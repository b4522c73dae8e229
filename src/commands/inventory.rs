//! `snapkeeper inventory`: what each account holds, by kind (servers,
//! volumes, snapshots, images, load balancers, firewalls, clusters, CDN).
//!
//! Owns the per-account summary line and table, and the `--json` shape.
//!
//! Must never: write to a provider.

use serde::Serialize;

use super::table::Table;
use super::{Ctx, combine, connect, fail, text, to_json};
use crate::provider;

#[derive(Serialize)]
struct InventoryJson {
    account: String,
    provider: String,
    error: Option<String>,
    sections: Vec<provider::InventorySection>,
}

/// The width the summary line is wrapped to.
const WIDTH: usize = 100;
/// Longest item name a table shows without `--wide`.
const NAME_WIDTH: usize = 32;

/// `snapkeeper inventory`: what each account holds, by kind.
pub async fn inventory(ctx: &Ctx, accounts: &[String], json: bool, wide: bool) -> u8 {
    let accounts = match ctx.accounts(accounts) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut out = Vec::new();
    for a in accounts {
        let mut item = InventoryJson {
            account: a.name.clone(),
            provider: a.provider.to_string(),
            error: None,
            sections: Vec::new(),
        };
        match connect(a, &ctx.client) {
            Err(e) => item.error = Some(e.to_string()),
            Ok(client) => match client.inventory().await {
                Ok(inv) => item.sections = inv.sections,
                Err(e) => item.error = Some(e.to_string()),
            },
        }
        out.push(item);
    }
    let failed = out.iter().filter(|i| i.error.is_some()).count();
    let code = combine(out.len() - failed, failed);
    if json {
        println!("{}", to_json(&out));
        return code;
    }
    for (i, item) in out.iter().enumerate() {
        if i > 0 {
            println!();
        }
        if let Some(e) = &item.error {
            println!(
                "account {} ({}): error: {}",
                item.account,
                item.provider,
                text::guard(e.clone())
            );
            continue;
        }
        let counts: Vec<String> = item
            .sections
            .iter()
            .map(|s| text::count_kind(s.items.len(), &s.kind))
            .collect();
        let head = format!("account {} ({}):", item.account, item.provider);
        println!("{}", text::wrap(&head, &counts, WIDTH, "  "));
        let mut t = Table::new(&["KIND", "ID", "NAME", "REGION", "STATUS"]);
        let ids = text::Ids::new(
            item.sections
                .iter()
                .flat_map(|s| s.items.iter().map(|it| it.id.as_str())),
            wide,
        );
        for s in &item.sections {
            for it in &s.items {
                t.row(vec![
                    text::kind_singular(&s.kind),
                    ids.show(&it.id),
                    text::name(&it.name, NAME_WIDTH, wide),
                    text::escape(it.region.as_deref().unwrap_or_default()),
                    text::escape(it.status.as_deref().unwrap_or_default()),
                ]);
            }
        }
        if !t.is_empty() {
            print!("{}", t.render());
        }
    }
    code
}
