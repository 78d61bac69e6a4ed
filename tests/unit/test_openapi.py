from nudge.api.openapi import MOBILE_OPENAPI_PATH, build_mobile_openapi


def test_committed_openapi_matches_the_code() -> None:
    assert MOBILE_OPENAPI_PATH.read_text() == build_mobile_openapi(), "run `make openapi`"
