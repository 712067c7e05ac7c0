"""Records -> InteractionData: what counts as a positive, values, the follow graph, authors."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from townsquare.errors import InputError, NotFoundError
from townsquare.evaluation.data import interaction_data, read_dataset
from townsquare.ingest.records import EdgeRecord, InteractionKind, InteractionRecord, PostRecord, UserRecord


def records():
    at = datetime(2024, 5, 1, tzinfo=UTC)
    return [
        UserRecord(id="a", handle="a"),
        UserRecord(id="b", handle="b"),
        UserRecord(id="quiet", handle="quiet"),
        PostRecord(id="p1", author="a", text="first"),
        PostRecord(id="p2", author="b", text="second"),
        PostRecord(id="gone", author="b", text="deleted", deleted=True),
        EdgeRecord(source="a", target="b"),
        EdgeRecord(source="a", target="quiet"),
        EdgeRecord(type="block", source="b", target="a"),
        InteractionRecord(user="a", post="p2", kind=InteractionKind.rating, value=4.0, created_at=at),
        InteractionRecord(user="a", post="p2", kind=InteractionKind.like),
        InteractionRecord(user="b", post="p1", kind=InteractionKind.like),
        InteractionRecord(user="b", post="p2", kind=InteractionKind.hide),
        InteractionRecord(user="quiet", post="p1", kind=InteractionKind.view),
        InteractionRecord(user="b", post="p3", kind=InteractionKind.repost),
    ]


def test_positives_values_and_graph():
    data = interaction_data(records())
    assert data.users == ["a", "b"]  # 'quiet' only viewed: not a positive
    assert data.items == [
        "p1",
        "p2",
        "p3",
    ]  # the deleted post is gone; p3 has no post record but was reposted
    values = data.values.toarray()
    assert values[0].tolist() == [0.0, 4.0, 0.0]  # a rating keeps its value (the max with the like's 1)
    assert values[1].tolist() == [1.0, 0.0, 1.0]  # b's hide is not a positive
    assert data.times[0, 1] == datetime(2024, 5, 1, tzinfo=UTC).timestamp()
    assert data.social.toarray().tolist() == [[0, 1], [0, 0]]  # follows only, between kept users
    assert data.item_texts[:2] == ["first", "second"] and data.item_texts[2] == ""
    assert [data.authors[i] for i in data.item_authors] == ["a", "b", ""]


def test_no_positives_is_an_error():
    with pytest.raises(InputError, match="no positive interactions"):
        interaction_data([UserRecord(id="a", handle="a")], name="empty")


def test_reads_jsonl_records(community_file):
    data = read_dataset("jsonl", str(community_file))
    assert data.n_users == 45 and data.n_items == 42 and data.social is not None
    assert np.all(data.values.data == 1.0)


def test_labelled_dataset_or_unknown_name_is_refused(tmp_path):
    with pytest.raises(InputError, match="movielens-100k"):
        read_dataset("liar", str(tmp_path))
    with pytest.raises(NotFoundError):
        read_dataset("no-such-dataset", str(tmp_path))
