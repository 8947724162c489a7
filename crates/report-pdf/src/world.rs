//! The world a report is typeset in: the template, the report's files and typst's own fonts.

use std::collections::HashMap;
use std::sync::LazyLock;

use trailkeep_event::Timestamp;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// The template every report is laid out with.
const TEMPLATE: &str = include_str!("report.typ");

/// The fonts typst ships with (Libertinus Serif, New Computer Modern, DejaVu Sans Mono),
/// read once.
static FONTS: LazyLock<(LazyHash<FontBook>, Vec<Font>)> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    (LazyHash::new(FontBook::from_fonts(&fonts)), fonts)
});

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

/// The id of the file at `path` in the project.
fn id(path: &str) -> FileId {
    RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(path).expect("a valid path"),
    )
    .intern()
}

/// One report's world.
pub struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
    today: Datetime,
}

impl ReportWorld {
    /// The template over `files` (path, contents), made at `made`.
    pub fn new(files: Vec<(String, Vec<u8>)>, made: Timestamp) -> Self {
        ReportWorld {
            main: Source::new(id("/report.typ"), TEMPLATE.to_owned()),
            files: files
                .into_iter()
                .map(|(path, bytes)| (id(&path), Bytes::new(bytes)))
                .collect(),
            today: datetime(made),
        }
    }
}

/// `at` as typst's date and time (UTC).
pub fn datetime(at: Timestamp) -> Datetime {
    let text = at.to_string();
    let number = |range: std::ops::Range<usize>| text[range].parse::<u8>().unwrap_or(0);
    let year = text[..4].parse().unwrap_or(1970);
    Datetime::from_ymd_hms(
        year,
        number(5..7),
        number(8..10),
        number(11..13),
        number(14..16),
        number(17..19),
    )
    .expect("a valid time")
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.0
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files.get(&id).cloned().ok_or(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.1.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}
