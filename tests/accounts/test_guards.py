"""Guards on users and invitations: the last admin stays, a deactivated workspace invites no one."""

from __future__ import annotations

from tests.support import PASSWORD, signup


async def test_last_active_admin_cannot_be_demoted_even_by_an_api_key(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "solo@guard.example")
    users = (await client.get("/users", headers=acct.bearer)).json()
    r = await client.patch(f"/users/{users[0]['id']}", json={"role": "viewer"}, headers=acct.key_headers)
    assert r.status_code == 422 and "last active admin" in r.text
    gone = await client.delete(f"/users/{users[0]['id']}", headers=acct.key_headers)
    assert gone.status_code == 422
    assert (await client.get("/users", headers=acct.bearer)).json()[0]["role"] == "admin"


async def test_invitation_of_a_deactivated_workspace_cannot_be_accepted(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "boss@guard.example")
    inv = await client.post("/invitations", json={"email": "new@guard.example", "role": "analyst"},
                            headers=acct.bearer)
    assert inv.status_code == 201
    token = mailbox.link("new@guard.example", "/auth/accept-invite").split("token=")[1]
    assert (await client.post("/tenants/deactivate", headers=acct.bearer)).status_code == 200
    r = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD})
    assert r.status_code == 422 and "deactivated" in r.text


async def test_inviting_an_address_of_another_workspace_reveals_nothing(make_client, mailbox):
    client = await make_client()
    a = await signup(client, mailbox, "a@ws.example", name="A")
    await signup(client, mailbox, "b@ws.example", name="B")
    inv = await client.post("/invitations", json={"email": "b@ws.example", "role": "viewer"}, headers=a.bearer)
    assert inv.status_code == 201  # the same answer as for any address
    bodies = [mailbox.body(m) for m in mailbox.messages if "b@ws.example" in str(m["To"])]
    invite_mail = next(b for b in bodies if "/auth/accept-invite" in b)
    token = invite_mail.split("token=")[1].split()[0]
    taken = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD})
    assert taken.status_code == 409
    again = await client.post("/invitations", json={"email": "a@ws.example", "role": "viewer"}, headers=a.bearer)
    assert again.status_code == 409 and "this workspace" in again.text
