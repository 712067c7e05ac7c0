from __future__ import annotations

from datetime import UTC, datetime

import pytest

from townsquare.errors import InputError
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord
from townsquare.ingest.tabular import (
    parse_mapping,
    parse_timestamp,
    read_edges_table,
    read_interactions_table,
    read_items_table,
    read_labelled_table,
)

RATINGS = "userId,movieId,rating,ts\nu1,m1,4.5,1700000000\nu2,m1,,2024-01-31T12:00:00Z\nu1,m2,3,\n"


def test_parse_mapping_names_indices_and_dicts():
    assert parse_mapping("user=userId, item=1,value=rating", ("user", "item"), ("value", "timestamp")) == {
        "user": "userId",
        "item": 1,
        "value": "rating",
    }
    assert parse_mapping({"user": 0, "item": "b"}, ("user", "item")) == {"user": 0, "item": "b"}


@pytest.mark.parametrize(
    ("spec", "field", "needle"),
    [
        ("user=a,item=b,colour=c", "colour", "unknown column role"),
        ("user=a", "item", "lacks item"),
        ("user=a,user=b,item=c", "user", "given twice"),
        ("user=a,item", "item", "no '='"),
        ("user=,item=b", "user", "has no column"),
    ],
)
def test_parse_mapping_errors(spec, field, needle):
    with pytest.raises(InputError) as caught:
        parse_mapping(spec, ("user", "item"), ("value", "timestamp"))
    assert caught.value.field == field and needle in caught.value.message
    assert "user (required)" in caught.value.message or "roles:" in caught.value.message


def test_timestamps_unix_and_iso():
    assert parse_timestamp("0") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2024-01-31T12:00:00Z") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_timestamp("2024-01-31 12:00:00") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="milliseconds"):
        parse_timestamp("1700000000000000")


def test_interactions_csv_with_header(write):
    path = write("r.csv", RATINGS)
    records = list(read_interactions_table(path, "user=userId,item=movieId,value=rating,timestamp=ts"))
    assert all(isinstance(r, InteractionRecord) and r.kind is InteractionKind.rating for r in records)
    assert [(r.user, r.post, r.value) for r in records] == [
        ("u1", "m1", 4.5),
        ("u2", "m1", None),
        ("u1", "m2", 3.0),
    ]
    assert records[0].created_at == datetime.fromtimestamp(1700000000, UTC)
    assert records[1].created_at == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert records[2].created_at.year == 1970


def test_interactions_with_users_and_kind(write):
    path = write("r.csv", RATINGS)
    records = list(read_interactions_table(path, "user=userId,item=movieId", kind="like", with_users=True))
    assert [type(r).__name__ for r in records] == [
        "UserRecord",
        "InteractionRecord",
        "UserRecord",
        "InteractionRecord",
        "InteractionRecord",
    ]
    assert records[0].id == "u1" and records[1].kind is InteractionKind.like


def test_unknown_kind_is_refused_at_call():
    with pytest.raises(InputError, match="valid: view, click") as caught:
        read_interactions_table("x.csv", "user=a,item=b", kind="smile")
    assert caught.value.field == "kind"


def test_tsv_by_extension_and_no_header_positions(write):
    path = write("r.tsv", 'u1\tm"1\t5\nu2\tm2\t4\n')
    records = list(read_interactions_table(path, "user=0,item=1,value=2", header=False))
    assert [(r.user, r.post, r.value) for r in records] == [("u1", 'm"1', 5.0), ("u2", "m2", 4.0)]


def test_delimiter_option_and_unknown_extension(write):
    path = write("r.txt", "a;b\nu1;m1\n")
    with pytest.raises(InputError, match="delimiter"):
        list(read_interactions_table(path, "user=a,item=b"))
    assert [r.post for r in read_interactions_table(path, "user=a,item=b", delimiter=";")] == ["m1"]


def test_names_need_a_header(write):
    path = write("r.csv", "u1,m1\n")
    with pytest.raises(InputError, match="0-based positions") as caught:
        list(read_interactions_table(path, "user=userId,item=1", header=False))
    assert caught.value.field == "user"


def test_mapped_column_missing_from_header(write, errors):
    path = write("r.csv", RATINGS)
    with pytest.raises(InputError) as caught:
        list(read_interactions_table(path, "user=userId,item=itemId", on_error=errors.append))
    assert (caught.value.line, caught.value.field) == (1, "itemId")
    assert "userId, movieId, rating, ts" in caught.value.message


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        ("u3,m3,4,1,extra", None, "has 5 columns but the header has 4"),
        ("u3,m3,4", None, "has 3 columns"),
        ("u3,m3,lots,1", "rating", "not a number"),
        ("u3,m3,-2,1", "rating", "greater than or equal to 0"),
        ("u3,m3,nan,1", "rating", "finite"),
        ("u3,m3,4,tuesday", "ts", "not a timestamp"),
        ("u3,m3,4,1700000000000000", "ts", "out of range"),
        (",m3,4,1", "userId", "at least 1 character"),
    ],
)
def test_bad_rows_are_located(write, row, field, needle):
    path = write("r.csv", RATINGS + row + "\n")
    with pytest.raises(InputError) as caught:
        list(read_interactions_table(path, "user=userId,item=movieId,value=rating,timestamp=ts"))
    assert (caught.value.source, caught.value.line, caught.value.field) == (str(path), 5, field)
    assert needle in caught.value.message


def test_bad_encoding_and_on_error_skip(write, errors):
    raw = RATINGS.encode() + b"u\xe9,m9,1,1\n" + b"u4,m4,x,1\nu5,m5,2,1\n"
    path = write("r.csv", raw)
    records = list(
        read_interactions_table(path, "user=userId,item=movieId,value=rating", on_error=errors.append)
    )
    assert [r.user for r in records] == ["u1", "u2", "u1", "u5"]
    assert [(e.line, e.field) for e in errors] == [(5, None), (6, "rating")]
    assert "UTF-8" in errors[0].message


def test_quoted_multiline_cell_keeps_line_numbers(write):
    path = write("items.csv", 'id,text\ni1,"two\nlines"\ni2,plain\ni1,again\n')
    with pytest.raises(InputError) as caught:
        list(read_items_table(path, "id=id,text=text"))
    assert caught.value.line == 5 and "line 2" in caught.value.message and caught.value.field == "id"


def test_items_yield_author_first(write):
    path = write("items.csv", 'id,text,when\ni1,"A film, with commas #Drama",2001-02-03\ni2,Another,\n')
    records = list(read_items_table(path, "id=id,text=text,timestamp=when", author="catalog"))
    assert isinstance(records[0], UserRecord) and records[0].id == records[0].handle == "catalog"
    posts = records[1:]
    assert all(isinstance(p, PostRecord) and p.author == "catalog" for p in posts)
    assert posts[0].text == "A film, with commas #Drama" and posts[0].hashtags == ["drama"]
    assert posts[0].created_at == datetime(2001, 2, 3, tzinfo=UTC)


def test_items_author_must_be_a_handle():
    with pytest.raises(InputError) as caught:
        read_items_table("x.csv", "id=0,text=1", author="the catalog")
    assert caught.value.field == "author"


def test_edges_kinds_duplicates_and_self_edges(write, errors):
    path = write("e.csv", "src,dst\na,b\nb,a\nc,c\na,b\n")
    records = list(
        read_edges_table(path, "source=src,target=dst", kind="block", on_error=errors.append, with_users=True)
    )
    edges = [r for r in records if isinstance(r, EdgeRecord)]
    assert [(e.type, e.source, e.target) for e in edges] == [("block", "a", "b"), ("block", "b", "a")]
    assert [r.id for r in records if isinstance(r, UserRecord)] == ["a", "b"]
    assert [e.line for e in errors] == [4, 5]
    assert "cannot block themselves" in errors[0].message
    assert "line 2" in errors[1].message and "line 5" in errors[1].message and errors[1].field == "dst"


def test_labelled_table_by_name_and_position(write):
    path = write("l.csv", "text,label,other\nhello there,ok,1\nbye,bad,2\n")
    by_name = list(read_labelled_table(path, "text", "label"))
    by_position = list(read_labelled_table(path, 0, 1))
    assert [(r.text, r.label) for r in by_name] == [("hello there", "ok"), ("bye", "bad")]
    assert [r.model_dump() for r in by_position] == [r.model_dump() for r in by_name]
    assert "other" not in by_name[0].model_dump()


def test_labelled_table_empty_cells(write, errors):
    path = write("l.tsv", "t\tl\nfine\tok\n\tok\nno label\t\n")
    assert [r.text for r in read_labelled_table(path, "t", "l", on_error=errors.append)] == ["fine"]
    assert [(e.line, e.field) for e in errors] == [(3, "t"), (4, "l")]


def test_malformed_csv_rows_are_located(write, errors):
    path = write("items.csv", 'id,text\ni1,"ok"\ni2,"bad"x\ni3,fine\ni4,"never closed\n')
    with pytest.raises(InputError, match="malformed row") as caught:
        list(read_items_table(path, "id=id,text=text"))
    assert caught.value.line == 3
    records = list(read_items_table(path, "id=id,text=text", on_error=errors.append))
    assert [r.id for r in records] == ["catalog", "i1", "i3"]
    assert [e.line for e in errors] == [3, 5]
