"""Which objects a partial run reads: the articles an editor named (`article_ids`) or the
objects that arrived (event runs), and which of their articles it briefs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from briefs.tasks.core.records import Article, Failure
from briefs.tasks.ingest.articles import article_id_for
from briefs.tasks.output.layout import NOT_FOUND, object_of
from briefs.tasks.output.storage import ObjectInfo, object_uri

NOT_FOUND_REASON = (NOT_FOUND + "no article {ref!r} in the night's manifest and no object "
                    "with that key under {source}")
NOT_IN_OBJECT = "not briefed: {uri} holds no article {ref!r} now"


@dataclass
class Selection:
    """The objects to read, and which of their articles to keep: every article of an object
    named by key, only the named articles of one found by article id."""

    objects: list[ObjectInfo] = field(default_factory=list)
    whole: set[str] = field(default_factory=set)  # object URIs: all their articles
    article_ids: dict[str, str] = field(default_factory=dict)  # article id → object key
    not_found: list[Failure] = field(default_factory=list)
    # Why an object read for a chosen article failed as a whole, by its URI.
    object_failures: dict[str, str] = field(default_factory=dict)

    def keeps(self, item: Article | Failure) -> bool:
        """Whether a parsed article (or a failure of one) is one this run briefs."""
        uri = item.source.uri if isinstance(item, Article) else item.uri
        if item.article_id in self.article_ids or object_of(uri) in self.whole:
            return True
        if isinstance(item, Failure) and uri == object_of(uri):  # the object's own failure
            self.object_failures[uri] = item.reason
        return False

    def unaccounted(self, recorded: set[str], source: str) -> list[Failure]:
        """A failure for each chosen article the run recorded nothing of (its object failed
        as a whole, or no longer holds it), so that none goes missing without a reason."""
        missing = []
        for ref, key in self.article_ids.items():
            if ref not in recorded:
                uri = object_uri(source, key)
                reason = self.object_failures.get(uri)
                missing.append(Failure(ref, uri, reason or NOT_IN_OBJECT.format(uri=uri,
                                                                                ref=ref)))
        return missing


def select(requested: list[str], objects: list[ObjectInfo], source: str,
           manifest: dict[str, Any] | None, missing: str = "failed") -> Selection:
    """Resolve each requested article id, object key or object URI under `source`.

    An article id is found in the night's manifest (its source names the object, also for a
    line of a JSONL feed) or, for a plain file, from the key it is named after; a key or URI
    takes the whole object, and so does the id an object is named after (a plain file's, or
    the entry of an object that failed as a whole). One found nowhere gets a failure with
    the status `missing`.
    """
    keys = {o.key for o in objects}
    by_uri = {object_uri(source, o.key): o.key for o in objects}
    by_id = {article_id_for(o.key): o.key for o in objects}
    in_manifest = {}
    for entry in (manifest or {}).get("articles", []):
        uri = object_of(str(entry.get("source", "")))
        if uri in by_uri:
            in_manifest[entry.get("article_id")] = by_uri[uri]
    selection = Selection()
    for ref in dict.fromkeys(r.strip() for r in requested if r and r.strip()):
        key = ref if ref in keys else by_uri.get(ref) or in_manifest.get(ref) or by_id.get(ref)
        if key is None:
            reason = NOT_FOUND_REASON.format(ref=ref, source=source)
            selection.not_found.append(Failure(ref, source, reason, missing))
        elif key == ref or object_uri(source, key) == ref or article_id_for(key) == ref:
            selection.whole.add(object_uri(source, key))
        else:
            selection.article_ids[ref] = key
    wanted = {by_uri[uri] for uri in selection.whole} | set(selection.article_ids.values())
    selection.objects = [o for o in objects if o.key in wanted]
    return selection

