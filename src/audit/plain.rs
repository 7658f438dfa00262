//! The access log in plain language: one sentence per entry, built from translation templates
//! (`access_log.say.*` in web/locales/app.yml), e.g. "Công an phường Hải Châu, cán bộ Nguyễn
//! Văn A, xem căn cước công dân để chứng thực bản sao, 14:02 hôm nay".
//!
//! Times are shown in Vietnam time (UTC+7, no daylight saving), relative to the clock's now:
//! "hôm nay" / "hôm qua" by the Vietnamese calendar day, otherwise the date.
//!
//! Names come from [`names`], which looks up every agency and every staff member or operator
//! of a list of entries in one query each (a page costs the same whatever its entries), and
//! keeps them a minute in the instance's [`NameCache`].

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use uuid::Uuid;

use super::model::{Action, Actor, Authorization, Object, Outcome};
use super::repo;
use super::service::EntryView;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;

/// Vietnam's offset from UTC: +07:00 all year.
pub const VIETNAM_OFFSET_SECONDS: i32 = 7 * 3600;

/// The Vietnam time zone (a fixed offset).
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(VIETNAM_OFFSET_SECONDS).unwrap_or_else(|| Utc.fix())
}

/// Who the entries name: agencies and people (staff, operators) by id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub agencies: HashMap<Uuid, String>,
    pub people: HashMap<Uuid, String>,
}

/// How long a looked-up name is reused: a renamed agency or staff member shows under the new
/// name on log pages at most this much later (per instance).
pub const NAME_TTL_SECS: i64 = 60;

/// Names kept at most; past this the cache forgets everything and starts again (a page names
/// at most a few dozen, so this only bounds memory).
const NAME_CACHE_CAP: usize = 4096;

/// What a cached name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NameKey {
    Agency(Uuid),
    Person(Uuid),
}

/// A small process-wide cache of the names log pages show (agencies, staff members,
/// operators), so a page of a citizen whose entries name the same few agencies and clerks costs
/// no lookup at all after the first: names are public-facing labels, not the citizen's data,
/// and change rarely. Only found names are kept (a missing one is asked for again).
#[derive(Default)]
pub struct NameCache {
    entries: std::sync::Mutex<HashMap<NameKey, (String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for NameCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameCache").finish_non_exhaustive()
    }
}

impl NameCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NameKey, (String, DateTime<Utc>)>> {
        // A panic while holding the lock leaves a map that is still a valid cache.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Splits `keys` into the names still fresh at `now` and the keys to look up.
    fn split(&self, keys: &[NameKey], now: DateTime<Utc>) -> (Names, Vec<NameKey>) {
        let entries = self.lock();
        let mut names = Names::default();
        let mut missing = Vec::new();
        for key in keys {
            match entries.get(key) {
                Some((name, until)) if now < *until => match key {
                    NameKey::Agency(id) => {
                        names.agencies.insert(*id, name.clone());
                    }
                    NameKey::Person(id) => {
                        names.people.insert(*id, name.clone());
                    }
                },
                _ => missing.push(*key),
            }
        }
        (names, missing)
    }

    fn keep(&self, found: impl IntoIterator<Item = (NameKey, String)>, now: DateTime<Utc>) {
        let until = now + chrono::Duration::seconds(NAME_TTL_SECS);
        let mut entries = self.lock();
        for (key, name) in found {
            if entries.len() >= NAME_CACHE_CAP {
                entries.retain(|_, (_, until)| now < *until);
                if entries.len() >= NAME_CACHE_CAP {
                    entries.clear();
                }
            }
            entries.insert(key, (name, until));
        }
    }
}

/// The names of every agency and every staff member or operator acting in `entries`: from the
/// instance's [`NameCache`] when looked up less than [`NAME_TTL_SECS`] ago, otherwise one query
/// for the agencies, one for the accounts, then each profile opened with its account's key.
pub async fn names(state: &AppState, entries: &[EntryView]) -> Result<Names, AppError> {
    let mut keys: Vec<NameKey> = Vec::new();
    for entry in entries {
        if let Some(agency) = entry.actor.and_then(|a| a.agency()) {
            keys.push(NameKey::Agency(agency));
        }
        if let Some(Actor::Staff { account, .. } | Actor::Operator { account }) = entry.actor {
            keys.push(NameKey::Person(account));
        }
    }
    if keys.is_empty() {
        return Ok(Names::default());
    }
    keys.sort_unstable_by_key(|k| match k {
        NameKey::Agency(id) => (0, *id),
        NameKey::Person(id) => (1, *id),
    });
    keys.dedup();
    let now = state.clock.now();
    let (mut names, missing) = state.names.split(&keys, now);
    if missing.is_empty() {
        return Ok(names);
    }
    let agency_ids: Vec<Uuid> = missing
        .iter()
        .filter_map(|k| match k {
            NameKey::Agency(id) => Some(*id),
            NameKey::Person(_) => None,
        })
        .collect();
    let person_ids: Vec<Uuid> = missing
        .iter()
        .filter_map(|k| match k {
            NameKey::Person(id) => Some(*id),
            NameKey::Agency(_) => None,
        })
        .collect();
    let mut found = Vec::new();
    for (id, name) in repo::agency_names(&state.db, &agency_ids).await? {
        found.push((NameKey::Agency(id), name.clone()));
        names.agencies.insert(id, name);
    }
    for row in repo::accounts_by_ids(&state.db, &person_ids).await? {
        // A profile that cannot be opened (key rotated away) just leaves the name out.
        match crate::accounts::service::profile(state, &row) {
            Ok(Some(profile)) if !profile.full_name.trim().is_empty() => {
                found.push((NameKey::Person(row.id), profile.full_name.clone()));
                names.people.insert(row.id, profile.full_name);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "staff profile not readable for the access log"),
        }
    }
    state.names.keep(found, now);
    Ok(names)
}

/// Replaces each `%{name}` of `template` by its value in one pass, so a value that itself
/// contains `%{…}` (an agency name, a purpose) is shown as typed, never expanded.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push_str("%{");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first letter in lower case ("Căn cước công dân" → "căn cước công dân"), to put a
/// document type's name inside a sentence.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "14:02 hôm nay", "09:30 hôm qua", "18:45 ngày 28/11/2026" in Vietnam time.
pub fn when(lang: Lang, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let zone = vietnam();
    let local = at.with_timezone(&zone);
    let today = now.with_timezone(&zone).date_naive();
    let time = local.format("%H:%M").to_string();
    let day = local.date_naive();
    if day == today {
        fill(&lang.t("access_log.say.today"), &[("time", &time)])
    } else if today.pred_opt() == Some(day) {
        fill(&lang.t("access_log.say.yesterday"), &[("time", &time)])
    } else {
        let date = local.format("%d/%m/%Y").to_string();
        fill(
            &lang.t("access_log.say.on_date"),
            &[("time", &time), ("date", &date)],
        )
    }
}

/// The time as a machine-readable value (for `<time datetime>`), in Vietnam time.
pub fn iso(at: DateTime<Utc>) -> String {
    at.with_timezone(&vietnam())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn who(lang: Lang, actor: Option<Actor>, names: &Names) -> String {
    let agency_name = |id: &Uuid| -> Cow<'_, str> {
        names
            .agencies
            .get(id)
            .map(|n| Cow::Borrowed(n.as_str()))
            .unwrap_or_else(|| lang.t("access_log.say.unknown_agency"))
    };
    match actor {
        Some(Actor::Citizen { .. }) => lang.t("access_log.say.who_you").into_owned(),
        Some(Actor::Staff { account, agency }) => match names.people.get(&account) {
            Some(name) => fill(
                &lang.t("access_log.say.who_staff"),
                &[("agency", &agency_name(&agency)), ("name", name)],
            ),
            None => fill(
                &lang.t("access_log.say.who_staff_unnamed"),
                &[("agency", &agency_name(&agency))],
            ),
        },
        Some(Actor::Agency { agency, .. }) => fill(
            &lang.t("access_log.say.who_agency"),
            &[("agency", &agency_name(&agency))],
        ),
        Some(Actor::Operator { account }) => match names.people.get(&account) {
            Some(name) => fill(&lang.t("access_log.say.who_operator"), &[("name", name)]),
            None => lang.t("access_log.say.who_operator_unnamed").into_owned(),
        },
        None => lang.t("access_log.say.who_unknown").into_owned(),
    }
}

fn object(lang: Lang, object: Option<Object>) -> String {
    match object {
        Some(Object::Document { doc_type, .. }) => fill(
            &lang.t("access_log.say.document"),
            &[("type", &lower_first(&lang.t(&doc_type.label_key())))],
        ),
        Some(Object::Report { .. }) => lang.t("access_log.say.report").into_owned(),
        Some(Object::Request { .. }) => lang.t("access_log.say.request").into_owned(),
        Some(Object::Grant { .. }) => lang.t("access_log.say.grant").into_owned(),
        Some(Object::Profile) => lang.t("access_log.say.profile").into_owned(),
        Some(Object::Vault) => lang.t("access_log.say.vault").into_owned(),
        Some(Object::Account) => lang.t("access_log.say.account").into_owned(),
        None => lang.t("access_log.say.something").into_owned(),
    }
}

/// The translation key of an action's verb phrase (`%{object}` inside).
pub fn action_key(action: Action) -> String {
    format!("access_log.say.{}", action.as_str().replace('.', "_"))
}

/// Why: the authority ("để chứng thực bản sao" for a certification request, "theo sự đồng ý
/// của bạn" under a grant) and the stated purpose.
fn why(lang: Lang, entry: &EntryView) -> String {
    let mut out = String::new();
    let about_document = matches!(entry.object, Some(Object::Document { .. }));
    match entry.authorization {
        Some(Authorization::Request(_)) if about_document => {
            out.push(' ');
            out.push_str(&lang.t("access_log.say.for_certification"));
        }
        Some(Authorization::Grant(_)) => {
            out.push(' ');
            out.push_str(&lang.t("access_log.say.under_grant"));
        }
        Some(Authorization::InPerson) => {
            out.push(' ');
            out.push_str(&lang.t("access_log.say.in_person"));
        }
        _ => {}
    }
    if let Some(purpose) = &entry.purpose {
        out.push_str(&fill(
            &lang.t("access_log.say.purpose"),
            &[("purpose", purpose)],
        ));
    }
    match entry.outcome {
        Some(Outcome::Denied) => out.push_str(&lang.t("access_log.say.denied")),
        Some(Outcome::Failed) => out.push_str(&lang.t("access_log.say.failed")),
        _ => {}
    }
    out
}

/// The entry as one sentence.
pub fn sentence(lang: Lang, entry: &EntryView, names: &Names, now: DateTime<Utc>) -> String {
    let what = match entry.action {
        Some(action) => fill(
            &lang.t(&action_key(action)),
            &[("object", &object(lang, entry.object))],
        ),
        None => lang.t("access_log.say.erased").into_owned(),
    };
    let template = if matches!(entry.actor, Some(Actor::Citizen { .. })) {
        "access_log.say.sentence_you"
    } else {
        "access_log.say.sentence"
    };
    fill(
        &lang.t(template),
        &[
            ("who", &who(lang, entry.actor, names)),
            ("what", &what),
            ("why", &why(lang, entry)),
            ("when", &when(lang, entry.occurred_at, now)),
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::vault::model::DocumentType;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn cached_names_are_reused_for_a_minute_then_looked_up_again() {
        let cache = NameCache::default();
        let (agency, person) = (Uuid::now_v7(), Uuid::now_v7());
        let keys = [NameKey::Agency(agency), NameKey::Person(person)];
        let t0 = at("2026-03-01T07:00:00Z");
        let (names, missing) = cache.split(&keys, t0);
        assert!(names.agencies.is_empty() && names.people.is_empty());
        assert_eq!(missing, keys.to_vec());

        cache.keep([(NameKey::Agency(agency), "UBND phường".to_owned())], t0);
        let (names, missing) = cache.split(&keys, t0 + chrono::Duration::seconds(59));
        assert_eq!(
            names.agencies.get(&agency).map(String::as_str),
            Some("UBND phường")
        );
        // Only found names are kept: the person is asked for again.
        assert_eq!(missing, vec![NameKey::Person(person)]);

        let later = t0 + chrono::Duration::seconds(NAME_TTL_SECS);
        let (names, missing) = cache.split(&keys, later);
        assert!(names.agencies.is_empty());
        assert_eq!(missing, keys.to_vec());
    }

    #[test]
    fn the_name_cache_stays_bounded() {
        let cache = NameCache::default();
        let t0 = at("2026-03-01T07:00:00Z");
        let many =
            (0..NAME_CACHE_CAP + 10).map(|n| (NameKey::Agency(Uuid::now_v7()), n.to_string()));
        cache.keep(many, t0);
        assert!(cache.lock().len() <= NAME_CACHE_CAP);
    }

    #[test]
    fn fill_does_not_expand_values() {
        assert_eq!(
            fill("%{a} và %{b}", &[("a", "%{b}"), ("b", "x")]),
            "%{b} và x"
        );
        assert_eq!(fill("%{missing} %{", &[]), "%{missing} %{");
    }

    #[test]
    fn times_are_vietnam_days() {
        let vi = Lang::Vi;
        // 07:02 UTC is 14:02 in Vietnam.
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(when(vi, at("2026-12-02T07:02:00Z"), now), "14:02 hôm nay");
        // 18:30 UTC on the 1st is 01:30 on the 2nd in Vietnam: today, not yesterday.
        assert_eq!(when(vi, at("2026-12-01T18:30:00Z"), now), "01:30 hôm nay");
        assert_eq!(when(vi, at("2026-12-01T16:59:00Z"), now), "23:59 hôm qua");
        assert_eq!(
            when(vi, at("2026-11-28T11:45:00Z"), now),
            "18:45 ngày 28/11/2026"
        );
        assert_eq!(
            when(Lang::En, at("2026-12-02T07:02:00Z"), now),
            "14:02 today"
        );
        assert_eq!(iso(at("2026-12-02T07:02:00Z")), "2026-12-02T14:02:00+07:00");
    }

    #[test]
    fn a_clerk_certifying_reads_like_the_issue_says() {
        let (clerk, agency) = (Uuid::now_v7(), Uuid::now_v7());
        let mut names = Names::default();
        names
            .agencies
            .insert(agency, "Công an phường Hải Châu".to_owned());
        names.people.insert(clerk, "Nguyễn Văn A".to_owned());
        let entry = EntryView {
            id: Uuid::now_v7(),
            seq: 1,
            occurred_at: at("2026-12-02T07:02:00Z"),
            actor: Some(Actor::Staff {
                account: clerk,
                agency,
            }),
            action: Some(Action::DocumentView),
            object: Some(Object::Document {
                id: Uuid::now_v7(),
                doc_type: DocumentType::Cccd,
            }),
            purpose: None,
            authorization: Some(Authorization::Request(Uuid::now_v7())),
            outcome: Some(Outcome::Allowed),
        };
        let now = at("2026-12-02T08:00:00Z");
        assert_eq!(
            sentence(Lang::Vi, &entry, &names, now),
            "Công an phường Hải Châu, cán bộ Nguyễn Văn A, xem căn cước công dân để chứng thực bản sao, 14:02 hôm nay"
        );
        assert_eq!(
            sentence(Lang::En, &entry, &names, now),
            "Công an phường Hải Châu, staff member Nguyễn Văn A, viewed the national ID card to certify a copy, 14:02 today"
        );
    }

    #[test]
    fn every_action_has_a_sentence_in_both_languages() {
        for lang in [Lang::Vi, Lang::En] {
            for action in Action::ALL {
                let key = action_key(action);
                let text = lang.t(&key);
                assert!(
                    !text.contains("access_log.say") && !text.is_empty(),
                    "{key} missing in {lang:?}"
                );
            }
        }
    }
}
