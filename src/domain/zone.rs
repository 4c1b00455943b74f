//! The viewer's time zone: every time a page shows is in it. Time zone rules
//! come from `jiff` (a well-kept crate with the IANA database bundled, so a
//! server without tzdata still knows every zone); the rest of Natter keeps
//! `time`'s types and asks the zone only for the offset at an instant.

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use time::{OffsetDateTime, UtcOffset};

/// The longest IANA zone name accepted ("America/Argentina/ComodRivadavia"
/// is 32 characters).
const NAME_MAX_CHARS: usize = 64;

/// A time zone pages are shown in: one the viewer's browser reported or
/// they chose, or UTC, said as such, until then.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: Option<String>,
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::utc()
    }
}

impl Zone {
    /// UTC, for a viewer whose zone is not known.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: None,
        }
    }

    /// The IANA zone of that name ("Europe/Berlin"); `None` for anything
    /// else, so a hostile cookie or form value falls back to UTC.
    pub fn named(name: &str) -> Option<Zone> {
        let plausible = !name.is_empty()
            && name.len() <= NAME_MAX_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        if !plausible {
            return None;
        }
        let tz = TimeZone::get(name).ok()?;
        Some(Zone {
            tz,
            name: Some(name.to_owned()),
        })
    }

    /// Every zone name there is, sorted, to choose from (read once).
    pub fn names() -> &'static [String] {
        static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
            let mut names: Vec<String> = jiff::tz::db()
                .available()
                .map(|name| name.to_string())
                .filter(|name| Zone::named(name).is_some())
                .collect();
            names.sort();
            names
        });
        &NAMES
    }

    /// The zone's name as pages say it: the IANA name, or "UTC".
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("UTC")
    }

    /// Whether the viewer's zone is known (reported or chosen).
    pub fn is_known(&self) -> bool {
        self.name.is_some()
    }

    /// When `day` begins on the viewer's clock (its first valid instant,
    /// where a change of clocks skips midnight).
    pub fn start_of(&self, day: time::Date) -> OffsetDateTime {
        let midnight = day.midnight().assume_utc();
        let (Ok(year), Ok(month), Ok(date)) = (
            i16::try_from(day.year()),
            i8::try_from(u8::from(day.month())),
            i8::try_from(day.day()),
        ) else {
            return midnight;
        };
        jiff::civil::Date::new(year, month, date)
            .and_then(|civil| civil.to_zoned(self.tz.clone()))
            .ok()
            .and_then(|zoned| {
                OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).ok()
            })
            .unwrap_or(midnight)
    }

    /// The same instant on the viewer's clock.
    pub fn local(&self, moment: OffsetDateTime) -> OffsetDateTime {
        let Ok(instant) = jiff::Timestamp::from_second(moment.unix_timestamp()) else {
            return moment;
        };
        UtcOffset::from_whole_seconds(self.tz.to_offset(instant).seconds())
            .map_or(moment, |offset| moment.to_offset(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_instant_is_shown_on_the_viewers_clock_summer_and_winter() {
        let berlin = Zone::named("Europe/Berlin").expect("a zone");
        let summer = berlin.local(datetime!(2026-07-01 12:00 UTC));
        assert_eq!((summer.hour(), summer.minute()), (14, 0));
        let winter = berlin.local(datetime!(2026-12-31 23:30 UTC));
        assert_eq!(
            (winter.date(), winter.hour()),
            (time::macros::date!(2027 - 01 - 01), 0)
        );
        let kolkata = Zone::named("Asia/Kolkata").expect("a zone");
        assert_eq!(kolkata.local(datetime!(2026-01-01 0:00 UTC)).minute(), 30);
    }

    #[test]
    fn a_day_begins_at_midnight_on_the_viewers_clock() {
        let tokyo = Zone::named("Asia/Tokyo").expect("a zone");
        assert_eq!(
            tokyo.start_of(time::macros::date!(2026 - 12 - 01)),
            datetime!(2026-11-30 15:00 UTC)
        );
        assert_eq!(
            Zone::utc().start_of(time::macros::date!(2026 - 12 - 01)),
            datetime!(2026-12-01 0:00 UTC)
        );
    }

    #[test]
    fn anything_but_a_known_zone_name_is_refused() {
        for name in [
            "",
            "Mars/Olympus",
            "../../etc/passwd",
            "Europe/Berlin; x=1",
            "<script>",
        ] {
            assert!(Zone::named(name).is_none(), "{name}");
        }
        assert_eq!(Zone::utc().label(), "UTC");
        assert!(!Zone::utc().is_known());
        assert_eq!(
            Zone::named("America/New_York").unwrap().label(),
            "America/New_York"
        );
    }
}
