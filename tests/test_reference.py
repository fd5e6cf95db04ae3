from tasks.core.reference import wiki_leads


def test_wiki_leads_split_is_disjoint_and_stable():
    train, heldout = wiki_leads("train"), wiki_leads("heldout")
    assert train.num_rows > 8000 and 800 < heldout.num_rows < 1300
    assert not set(train.column("title").to_pylist()) & set(heldout.column("title").to_pylist())
    assert wiki_leads("heldout").column("title").to_pylist() == heldout.column("title").to_pylist()


def test_cc_docs_fixture(cc_docs_table):
    assert cc_docs_table.num_rows == 697
