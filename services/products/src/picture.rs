//! A product's picture: an SVG drawn from the product itself (a colour from
//! its SKU, its category's initial and its name), so every product has one
//! without binary assets in the repository.

use crate::catalogue::Product;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A stable hue for `seed`, from FNV-1a.
fn hue(seed: &str) -> u32 {
    let hash = seed.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % 360
}

pub fn svg(product: &Product) -> String {
    let hue = hue(&product.sku);
    let initial = product
        .category
        .chars()
        .next()
        .unwrap_or('?')
        .to_ascii_uppercase();
    let title: String = product.name.chars().take(28).collect();
    let ellipsis = if product.name.chars().count() > 28 {
        "…"
    } else {
        ""
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" role="img" aria-label="{label}">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl({hue},65%,62%)"/><stop offset="1" stop-color="hsl({hue2},60%,42%)"/></linearGradient></defs>
<rect width="400" height="300" fill="url(#g)"/>
<circle cx="200" cy="125" r="70" fill="rgba(255,255,255,0.22)"/>
<text x="200" y="150" font-family="sans-serif" font-size="72" font-weight="700" text-anchor="middle" fill="#fff">{initial}</text>
<text x="200" y="255" font-family="sans-serif" font-size="20" text-anchor="middle" fill="#fff">{title}{ellipsis}</text>
</svg>
"##,
        label = escape(&product.name),
        hue2 = (hue + 40) % 360,
        initial = escape(&initial.to_string()),
        title = escape(&title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        let product = Product {
            id: 1,
            sku: "X-1".into(),
            name: "<script>alert(1)</script> & \"quotes\"".into(),
            description: String::new(),
            category: "desk".into(),
            price_cents: 1,
            stock: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let svg = svg(&product);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
