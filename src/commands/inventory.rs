//! `snapkeeper inventory`: what each account holds, by kind (servers,
//! volumes, snapshots, images, load balancers, firewalls, clusters, CDN).
//!
//! Owns the per-account summary line and table, and the `--json` shape.
//!
//! Must never: write to a provider.

use serde::Serialize;

use super::table::Table;
use super::{Ctx, combine, connect, fail, to_json};
use crate::provider;

#[derive(Serialize)]
struct InventoryJson {
    account: String,
    provider: String,
    error: Option<String>,
    sections: Vec<provider::InventorySection>,
}

/// `snapkeeper inventory`: what each account holds, by kind.
pub async fn inventory(ctx: &Ctx, account: Option<&str>, json: bool) -> u8 {
    let accounts = match ctx.accounts(account) {
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
            println!("account {} ({}): error: {e}", item.account, item.provider);
            continue;
        }
        let counts: Vec<String> = item
            .sections
            .iter()
            .map(|s| format!("{} {}", s.items.len(), s.kind.replace('_', " ")))
            .collect();
        println!(
            "account {} ({}): {}",
            item.account,
            item.provider,
            counts.join(", ")
        );
        let mut t = Table::new(&["KIND", "ID", "NAME", "REGION", "STATUS"]);
        for s in &item.sections {
            for it in &s.items {
                t.row(vec![
                    s.kind.clone(),
                    it.id.clone(),
                    it.name.clone(),
                    it.region.clone().unwrap_or_default(),
                    it.status.clone().unwrap_or_default(),
                ]);
            }
        }
        if !t.is_empty() {
            print!("{}", t.render());
        }
    }
    code
}
