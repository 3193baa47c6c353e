def test_me(cast, api_as):
    response = api_as(cast.engineer_a).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "erin-engineer"
