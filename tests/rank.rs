//! Ranking candidates: one call, one version, the best k.

#[path = "../examples/common/mod.rs"]
mod common;

use modelhost::rank::{Candidates, RankRequest, rank};
use modelhost::{Error, FeatureMap, InProcessServer};

fn server(probabilities: bool) -> InProcessServer {
    let (training, tree) = common::train_tree(3_000, 11, 6).unwrap();
    let (_, targets) = common::webshop_data(3_000, 11, 0.0);
    let artifact = if probabilities {
        modelhost::artifact::Artifact::decision_tree(
            "shop",
            &tree,
            training.schema(),
            common::LABELS,
            (&training, &targets[..]),
        )
    } else {
        modelhost::artifact::Artifact::decision_tree(
            "shop",
            &tree,
            training.schema(),
            common::LABELS,
            &training,
        )
    }
    .unwrap();
    let bytes = artifact.to_bytes().unwrap();
    let options = modelhost::artifact::ReadOptions::new();
    let loaded = modelhost::artifact::Artifact::from_bytes(&bytes, options)
        .unwrap()
        .into_loaded(options)
        .unwrap();
    InProcessServer::new(loaded.deployment().unwrap()).unwrap()
}

/// A visit and 100 candidate products (price only).
fn visit() -> (FeatureMap, Vec<FeatureMap>) {
    let session = FeatureMap::new()
        .with("recency_days", 2)
        .with("frequency", 6)
        .with("basket_value", 80.0)
        .with("device", "desktop")
        .with("is_returning", true);
    let candidates = (0..100)
        .map(|i| FeatureMap::new().with("product_price", 5.0 + 1.5 * f64::from(i)))
        .collect();
    (session, candidates)
}

#[test]
fn the_top_k_are_the_best_scores_of_one_version() {
    let server = server(true);
    let (session, candidates) = visit();
    let top = rank(
        &server,
        RankRequest::new(&session, &candidates, 3).with_id("visit-1"),
    )
    .unwrap();
    assert_eq!(top.items.len(), 3);
    assert_eq!(top.id.as_deref(), Some("visit-1"));
    assert_eq!(top.version, server.current().version());
    assert_eq!(top.label.as_deref(), Some("buy"));

    // The same rows predicted directly, sorted by p(buy), ties by position.
    let schema = common::webshop_schema();
    let rows: Vec<FeatureMap> = candidates
        .iter()
        .map(|c| {
            let mut r = session.clone();
            for (k, v) in c.iter() {
                r.insert(k, v.clone());
            }
            r
        })
        .collect();
    let batch = schema.validate_batch(&rows).unwrap();
    let p = server
        .current()
        .model()
        .predict_batch(batch.rows())
        .unwrap();
    let mut order: Vec<usize> = (0..100).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (
            p.probabilities(a).unwrap()[1],
            p.probabilities(b).unwrap()[1],
        );
        pb.total_cmp(&pa).then(a.cmp(&b))
    });
    let got: Vec<usize> = top.items.iter().map(|r| r.index).collect();
    assert_eq!(got, order[..3]);
    for r in &top.items {
        assert_eq!(r.score, p.probabilities(r.index).unwrap()[1]);
    }

    // Ranking by the other label reverses the preference.
    let worst = rank(
        &server,
        RankRequest::new(&session, &candidates, 1).by_label("ignore"),
    )
    .unwrap();
    let lowest_buy = (0..100)
        .min_by(|&a, &b| {
            let (pa, pb) = (
                p.probabilities(a).unwrap()[1],
                p.probabilities(b).unwrap()[1],
            );
            pa.total_cmp(&pb).then(a.cmp(&b))
        })
        .unwrap();
    assert_eq!(worst.items[0].index, lowest_buy);
    assert_eq!(worst.label.as_deref(), Some("ignore"));
}

#[test]
fn ranking_needs_probabilities_and_a_known_label() {
    let (session, candidates) = visit();
    let e = rank(&server(false), RankRequest::new(&session, &candidates, 3)).unwrap_err();
    assert!(matches!(e, Error::Rank { .. }), "{e}");
    let e = rank(
        &server(true),
        RankRequest::new(&session, &candidates, 3).by_label("maybe"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Rank { .. }), "{e}");
}

#[test]
fn an_invalid_candidate_fails_the_call_and_k_is_capped() {
    let server = server(true);
    let (session, mut candidates) = visit();
    let all = rank(&server, RankRequest::new(&session, &candidates, 1_000)).unwrap();
    assert_eq!(all.items.len(), 100);
    candidates[7].insert("product_price", -1.0);
    let e = rank(&server, RankRequest::new(&session, &candidates, 3)).unwrap_err();
    assert!(matches!(e, Error::Schema(_)), "{e}");
}

/// Candidates validated once rank exactly as the maps do, visit after
/// visit, and a session's value for a candidate's feature is not used.
#[test]
fn prepared_candidates_rank_as_the_maps_do() {
    let server = server(true);
    let schema = server.current().schema().clone();
    let (_, mut candidates) = visit();
    // Candidates that give two features, one of them categorical.
    for (i, c) in candidates.iter_mut().enumerate() {
        c.insert("device", ["desktop", "mobile", "tablet"][i % 3]);
    }
    let catalog = Candidates::new(&schema, &candidates).unwrap();
    assert_eq!(catalog.len(), 100);
    for (visit, basket) in [0.0, 12.5, 80.0, 640.0].into_iter().enumerate() {
        let session = FeatureMap::new()
            .with("recency_days", visit as i64 * 7)
            .with("frequency", 3)
            .with("basket_value", basket)
            .with("device", "tablet")
            .with("is_returning", visit % 2 == 0);
        let maps = rank(&server, RankRequest::new(&session, &candidates, 5)).unwrap();
        let prepared = rank(&server, RankRequest::prepared(&session, &catalog, 5)).unwrap();
        assert_eq!(prepared, maps, "visit {visit}");
        // The session's own price never reaches the rows.
        let priced = session.clone().with("product_price", -5.0);
        let again = rank(&server, RankRequest::prepared(&priced, &catalog, 5)).unwrap();
        assert_eq!(again, maps, "visit {visit}");
    }
}

#[test]
fn prepared_candidates_name_what_is_wrong() {
    let server = server(true);
    let schema = server.current().schema().clone();
    let (session, mut candidates) = visit();

    // An invalid value names its candidate.
    candidates[7].insert("product_price", -1.0);
    let Error::Schema(e) = Candidates::new(&schema, &candidates).unwrap_err() else {
        panic!("expected a schema error");
    };
    let v = e.violations();
    assert_eq!(v.len(), 1, "{e}");
    assert_eq!(
        (v[0].row, v[0].feature.as_str()),
        (Some(7), "product_price")
    );

    // Every candidate gives the same features.
    candidates[7].insert("product_price", 3.0);
    candidates[9].insert("device", "mobile");
    let e = Candidates::new(&schema, &candidates).unwrap_err();
    assert!(
        matches!(&e, Error::Rank { reason } if reason.contains("candidate 9 gives `device`")),
        "{e}"
    );
    let mut lacking = candidates.clone();
    lacking[9] = FeatureMap::new().with("device", "mobile");
    let e = Candidates::new(&schema, &lacking).unwrap_err();
    assert!(
        matches!(&e, Error::Rank { reason } if reason.contains("candidate 9 lacks `product_price`")),
        "{e}"
    );

    // A feature the schema does not know is refused like any row's.
    candidates[9] = FeatureMap::new()
        .with("product_price", 3.0)
        .with("colour", "red");
    let e = Candidates::new(&schema, &candidates).unwrap_err();
    assert!(matches!(e, Error::Schema(_)), "{e}");

    // The session is validated in the call, its own features only.
    candidates[9] = FeatureMap::new().with("product_price", 3.0);
    let catalog = Candidates::new(&schema, &candidates).unwrap();
    let mut bad = session.clone();
    bad.insert("basket_value", -3.0);
    let Error::Schema(e) = rank(&server, RankRequest::prepared(&bad, &catalog, 3)).unwrap_err()
    else {
        panic!("expected a schema error");
    };
    assert_eq!(e.violations()[0].feature, "basket_value");
    let Error::Schema(e) = rank(
        &server,
        RankRequest::prepared(&FeatureMap::new(), &catalog, 3),
    )
    .unwrap_err() else {
        panic!("expected a schema error");
    };
    assert!(
        e.violations().iter().all(|v| v.feature != "product_price"),
        "{e}"
    );

    // No candidates, nothing ranked.
    let empty = Candidates::new(&schema, &[]).unwrap();
    let top = rank(&server, RankRequest::prepared(&session, &empty, 3)).unwrap();
    assert!(top.items.is_empty());
}

/// Candidates built for one schema are refused by a version whose schema
/// encodes differently, with a typed error, never mis-read.
#[test]
fn prepared_candidates_follow_their_schema() {
    let server = server(true);
    let (session, candidates) = visit();
    // The same features in another order: other columns.
    let mut reversed = modelhost::FeatureSchema::builder();
    for f in common::webshop_schema().features().iter().rev() {
        reversed = reversed.feature(f.clone());
    }
    let other = reversed.build().unwrap();
    let catalog = Candidates::new(&other, &candidates).unwrap();
    let e = rank(&server, RankRequest::prepared(&session, &catalog, 3)).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
}
