"""Settings from the page or API cannot point the box at files outside its folders."""

from __future__ import annotations


def test_a_config_pointing_outside_the_roots_is_refused_naming_the_key(fresh_box):
    before = fresh_box.service.config
    with fresh_box.client() as c:
        r = c.put("/api/config", json={"source": {"path": "/etc"}})
        assert r.status_code == 409  # a well-formed path, refused for where it points
        assert any(p.startswith("source.path: /etc is outside") for p in r.json()["problems"]), r.json()
        r = c.put(
            "/api/config",
            json={"compose": {"presets": {"evil": {"background": "image", "image": "/etc/hostname"}}}},
        )
        assert r.status_code == 409 and r.json()["problems"][0].startswith("compose.presets.evil.image: ")
        r = c.put("/api/config", json={"station": {"path_roots": ["/"]}})  # not in a patch's schema at all
        assert r.status_code == 422 and "station.path_roots" in r.json()["problems"][0]
        assert c.get("/api/config").json()["source"]["path"] == str(fresh_box.photos)  # nothing changed
    assert fresh_box.service.config == before
