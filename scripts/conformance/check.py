#!/usr/bin/env python3
"""Drive `switchboard sandbox --tls` with Microsoft's own client libraries.

Microsoft's Python `msal` (identity) and `msgraph-sdk` (Graph, on Kiota) are
pointed at the sandbox the way an application would point them at Microsoft:
MSAL's client-credentials, authorization-code (PKCE, nonce, form_post) and
silent-refresh flows, the SDK's typed models, its PageIterator and its
request builders for every action the Microsoft 365 connector declares.
Each check asserts what came back and what the sandbox then holds.

    python3 scripts/conformance/check.py --switchboard target/debug/switchboard

Run by scripts/conformance.sh, which installs the pinned libraries in a
virtual environment. Exits 0 when every check passed, 1 otherwise.
"""
import argparse
import asyncio
import base64
import datetime as dt
import html.parser
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

import httpx
import msal
import requests
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as SDK_OPTIONS
from msgraph.generated.drives.item.items.item.copy.copy_post_request_body import CopyPostRequestBody
from msgraph.generated.drives.item.items.item.create_link.create_link_post_request_body import (
    CreateLinkPostRequestBody,
)
from msgraph.generated.drives.item.items.item.create_upload_session.create_upload_session_post_request_body import (
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_base import AttendeeBase
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.drive_item import DriveItem
from msgraph.generated.models.drive_item_collection_response import DriveItemCollectionResponse
from msgraph.generated.models.drive_item_uploadable_properties import DriveItemUploadableProperties
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_collection_response import EventCollectionResponse
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.folder import Folder
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.item_reference import ItemReference
from msgraph.generated.models.location_constraint import LocationConstraint
from msgraph.generated.models.location_constraint_item import LocationConstraintItem
from msgraph.generated.models.message import Message
from msgraph.generated.models.message_collection_response import MessageCollectionResponse
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.time_constraint import TimeConstraint
from msgraph.generated.models.time_slot import TimeSlot
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (
    GetSchedulePostRequestBody,
)
from msgraph.generated.users.item.events.item.accept.accept_post_request_body import AcceptPostRequestBody
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph.generated.users.item.events.item.decline.decline_post_request_body import DeclinePostRequestBody
from msgraph.generated.users.item.events.item.tentatively_accept.tentatively_accept_post_request_body import (
    TentativelyAcceptPostRequestBody,
)
from msgraph.generated.users.item.find_meeting_times.find_meeting_times_post_request_body import (
    FindMeetingTimesPostRequestBody,
)
from msgraph.generated.users.item.messages.item.forward.forward_post_request_body import ForwardPostRequestBody
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.messages.item.reply_all.reply_all_post_request_body import (
    ReplyAllPostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory, PageIterator

REPO = pathlib.Path(__file__).resolve().parents[2]
REDIRECT = "http://localhost/callback"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
DELEGATED = [
    "User.Read",
    "User.ReadBasic.All",
    "Mail.ReadWrite",
    "Mail.Send",
    "Calendars.ReadWrite",
    "Calendars.Read.Shared",
    "Files.ReadWrite.All",
]


class Failure(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


# ---------------------------------------------------------------- sandbox


class Sandbox:
    """`switchboard sandbox --tls` on a free port, in a private directory."""

    def __init__(self, binary, workdir):
        self.dir = pathlib.Path(workdir)
        args = [binary, "sandbox", "--tls", "--port", "0", "--seed", "42",
                "--cert-path", str(self.dir / "sandbox.pem")]
        help_text = subprocess.run([binary, "sandbox", "--help"], capture_output=True,
                                   text=True, check=False).stdout
        # a fresh tenant every run, never the user's own sandbox state
        if "--no-state" in help_text:
            args += ["--no-state"]
        elif "--state" in help_text:
            args += ["--state", str(self.dir / "sandbox-state.json")]
        env = dict(os.environ, HOME=str(self.dir), XDG_DATA_HOME=str(self.dir / "data"),
                   XDG_CONFIG_HOME=str(self.dir / "config"))
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.base = self._line()
        self.cert = self._line()
        self.info = {}
        while True:
            line = self._line()
            if line.startswith("try:"):
                break
            key, _, value = line.partition(": ")
            self.info[key] = value
        expect(self.base.startswith("https://127.0.0.1:"), f"base URL {self.base}")
        self.tenant = self.info["tenant_id"]
        self.client_id = self.info["client_id"]
        self.secret = self.info["client_secret"]
        self.user_count = int(self.info["users"])
        self.authority = f"{self.base}/{self.tenant}"

    def _line(self):
        line = self.proc.stdout.readline()
        if not line:
            raise Failure("the sandbox exited: " + self.proc.stderr.read())
        return line.strip()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def msal_app(sb):
    session = requests.Session()
    # trust exactly the sandbox's certificate: with trust_env, requests lets
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`
    session.trust_env = False
    session.verify = sb.cert
    return msal.ConfidentialClientApplication(
        sb.client_id,
        client_credential=sb.secret,
        authority=sb.authority,
        http_client=session,
        instance_discovery=False,
        token_cache=msal.TokenCache(),
    )


class MsalTokens(AccessTokenProvider):
    """Kiota's token seam, backed by an MSAL call."""

    def __init__(self, acquire, host):
        self.acquire = acquire
        self.hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        result = self.acquire()
        expect("access_token" in result, f"MSAL gave no token: {result}")
        return result["access_token"]

    def get_allowed_hosts_validator(self):
        return self.hosts


def graph_client(sb, acquire):
    host = urllib.parse.urlparse(sb.base).netloc
    http = httpx.AsyncClient(verify=sb.cert, timeout=30.0)
    # the SDK's own middleware and options (among them the /me rewrite)
    http = GraphClientFactory.create_with_default_middleware(client=http, options=SDK_OPTIONS)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(MsalTokens(acquire, host)), http)
    adapter.base_url = f"{sb.base}/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter


class FormFields(html.parser.HTMLParser):
    """The action and hidden inputs of a form_post page."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")


def sign_in(sb, app, login_hint, response_mode):
    """MSAL's authorization-code flow; the sandbox signs in without a browser."""
    flow = app.initiate_auth_code_flow(DELEGATED, redirect_uri=REDIRECT, login_hint=login_hint,
                                       response_mode=response_mode)
    expect(flow["code_verifier"] and "code_challenge=" in flow["auth_uri"], "MSAL uses PKCE")
    answer = requests.get(flow["auth_uri"], verify=sb.cert, allow_redirects=False, timeout=30)
    if response_mode == "form_post":
        equal(answer.status_code, 200, "form_post answers with a page")
        form = FormFields()
        form.feed(answer.text)
        equal(form.action, REDIRECT, "the form posts to the redirect URI")
        auth_response = form.fields
    else:
        equal(answer.status_code, 302, "query mode redirects")
        location = answer.headers["location"]
        expect(location.startswith(REDIRECT + "?"), f"redirect {location}")
        auth_response = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
    expect("code" in auth_response, f"no code in {auth_response}")
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    expect("access_token" in result, f"acquire_token_by_auth_code_flow: {result}")
    return flow, result


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def dtz(moment):
    return DateTimeTimeZone(date_time=iso(moment), time_zone="UTC")


def recipient(address):
    return Recipient(email_address=EmailAddress(address=address))


# ---------------------------------------------------------------- checks


class Run:
    def __init__(self, sb):
        self.sb = sb
        self.covered = set()
        self.results = []

    def cover(self, *method_ids):
        self.covered.update(method_ids)

    async def check(self, name, fn):
        start = time.monotonic()
        try:
            await fn()
            self.results.append(("PASS", name, ""))
        except Exception as e:  # every failure is reported, then the run goes on
            detail = str(e) if isinstance(e, Failure) else "".join(
                traceback.format_exception_only(type(e), e)).strip()
            if isinstance(e, ODataError) and e.error is not None:
                detail += f" ({e.response_status_code} {e.error.code}: {e.error.message})"
            self.results.append(("FAIL", name, detail))
        print(f"{self.results[-1][0]:<5} {name} ({time.monotonic() - start:.1f}s) {self.results[-1][2]}",
              flush=True)


async def raw_pages(sb, token, path):
    """Every record of a collection, following nextLinks with plain HTTP (the truth)."""
    out = []
    url = f"{sb.base}/v1.0{path}"
    async with httpx.AsyncClient(verify=sb.cert) as http:
        while url:
            r = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            equal(r.status_code, 200, f"GET {url}")
            body = r.json()
            out += body["value"]
            url = body.get("@odata.nextLink")
    return out


async def iterate(adapter, first_page, page_type):
    """Every item, page after page, with the SDK's PageIterator."""
    expect(isinstance(first_page, page_type), f"{type(first_page).__name__} is not {page_type.__name__}")
    items = []

    def collect(item):
        items.append(item)
        return True

    # PageIterator takes the page type from the first page (msgraph-core
    # refuses an explicit constructor with a typed page)
    iterator = PageIterator(first_page, adapter)
    await iterator.iterate(collect)
    return items


async def main(binary):
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="switchboard-conformance-") as workdir:
        sb = Sandbox(binary, workdir)
        try:
            run = Run(sb)
            await checks(run, sb)
        finally:
            sb.stop()
    declared = connector_actions()
    missing = sorted(declared - run.covered)
    if missing:
        run.results.append(("FAIL", "every action the connector declares was exercised",
                            "not exercised: " + ", ".join(missing)))
    else:
        run.results.append(("PASS", f"every action the connector declares was exercised ({len(declared)})", ""))
    print()
    for status, name, detail in run.results:
        print(f"{status:<5} {name}" + (f": {detail}" if status == "FAIL" else ""))
    failed = [r for r in run.results if r[0] == "FAIL"]
    print(f"\n{len(run.results) - len(failed)} passed, {len(failed)} failed "
          f"in {time.monotonic() - started:.0f}s (msal {msal.__version__})")
    return 1 if failed else 0


def connector_actions():
    """Every method of the Microsoft 365 connector that is not a GET."""
    out = set()
    for name in ["users", "calendars", "mail", "onedrive"]:
        path = REPO / "connectors" / "microsoft365" / "definitions" / f"{name}.json"
        for method in json.loads(path.read_text())["methods"]:
            if method["http_method"] != "GET":
                out.add(method["id"])
    return out


class State(dict):
    """What one check hands the next; a missing entry names the check that failed."""

    def __missing__(self, key):
        raise Failure(f"needs '{key}' from an earlier check, which failed")


async def checks(run, sb):
    state = State()
    app = msal_app(sb)

    async def client_credentials():
        consent = requests.get(
            f"{sb.authority}/v2.0/adminconsent",
            params={"client_id": sb.client_id, "redirect_uri": REDIRECT, "state": "c-1"},
            verify=sb.cert, allow_redirects=False, timeout=30)
        equal(consent.status_code, 302, "admin consent redirects back")
        expect("admin_consent=True" in consent.headers["location"], consent.headers["location"])
        first = app.acquire_token_for_client(GRAPH_DEFAULT)
        expect("access_token" in first, f"client credentials: {first}")
        equal(first.get("token_source"), "identity_provider", "first token from the sandbox")
        roles = jwt_claims(first["access_token"])["roles"]
        expect("Mail.ReadWrite" in roles and "User.Read.All" in roles, f"roles {roles}")
        again = app.acquire_token_for_client(GRAPH_DEFAULT)
        equal(again.get("token_source"), "cache", "MSAL serves the second from its cache")
        equal(again["access_token"], first["access_token"], "cached token")
        state["app"], state["app_adapter"] = graph_client(
            sb, lambda: app.acquire_token_for_client(GRAPH_DEFAULT))

    await run.check("client credentials after admin consent (MSAL)", client_credentials)

    async def users_typed_and_paged():
        graph, adapter = state["app"], state["app_adapter"]
        config = RequestConfiguration(
            query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=5))
        first = await graph.users.get(request_configuration=config)
        expect(isinstance(first, UserCollectionResponse), type(first))
        equal(len(first.value), 5, "first page size")
        expect(first.odata_next_link, "a next link")
        users = await iterate(adapter, first, UserCollectionResponse)
        equal(len(users), sb.user_count, "users across pages")
        equal(len({u.id for u in users}), sb.user_count, "distinct users")
        expect(all(isinstance(u, User) and u.display_name and u.user_principal_name for u in users),
               "typed users")
        state["users"] = users
        # $select: only what was selected, no id.
        config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=["displayName", "mail"], top=3))
        page = await graph.users.get(request_configuration=config)
        context = page.additional_data.get("@odata.context", "")
        expect(context.endswith("$metadata#users(displayName,mail)"), context)
        expect(all(u.id is None and u.display_name and u.mail for u in page.value),
               [(u.id, u.display_name) for u in page.value])
        one = await graph.users.by_user_id(users[1].user_principal_name).get()
        equal(one.id, users[1].id, "user by UPN")

    await run.check("users: typed models, PageIterator, $select", users_typed_and_paged)

    async def users_advanced_queries():
        graph = state["app"]
        prefix = state["users"][0].display_name[0]
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"startswith(displayName,'{prefix}')", orderby=["displayName"])
        try:
            await graph.users.get(request_configuration=RequestConfiguration(query_parameters=params))
            raise Failure("$filter with $orderby without ConsistencyLevel was accepted")
        except ODataError as e:
            equal(e.response_status_code, 400, "status")
            equal(e.error.code, "Request_UnsupportedQuery", "error code")
        params.count = True
        headers = HeadersCollection()
        headers.add("ConsistencyLevel", "eventual")
        page = await graph.users.get(request_configuration=RequestConfiguration(
            headers=headers, query_parameters=params))
        names = [u.display_name for u in page.value]
        expect(names and all(n.lower().startswith(prefix.lower()) for n in names), names)
        equal(names, sorted(names, key=str.lower), "ordered by displayName")
        equal(page.odata_count, len(names), "@odata.count")

    await run.check("users: advanced queries need ConsistencyLevel (ODataError)", users_advanced_queries)

    async def authorization_code():
        user = state["users"][0]
        flow, result = sign_in(sb, app, user.user_principal_name, "form_post")
        claims = result["id_token_claims"]
        equal(claims["oid"], user.id, "signed-in user")
        equal(claims.get("nonce"), msal.oauth2cli.oidc._nonce_hash(flow["nonce"]),
              "id_token nonce (MSAL checked it too)")
        accounts = app.get_accounts(username=user.user_principal_name)
        equal(len(accounts), 1, "one account in MSAL's cache")
        equal(accounts[0]["home_account_id"], f"{user.id}.{sb.tenant}",
              "MSAL account id is uid.utid, from client_info")
        state["me_account"] = accounts[0]
        # the same flow with response_mode=query, for a second user
        second = state["users"][1]
        _, result = sign_in(sb, app, second.user_principal_name, "query")
        equal(result["id_token_claims"]["oid"], second.id, "second user")
        state["second_account"] = app.get_accounts(username=second.user_principal_name)[0]

    await run.check("authorization code + PKCE via acquire_token_by_auth_code_flow "
                    "(form_post and query)", authorization_code)

    async def silent_refresh():
        account = state["me_account"]
        cached = app.acquire_token_silent(DELEGATED, account=account)
        equal(cached.get("token_source"), "cache", "silent call served from cache")
        tokens = {cached["access_token"]}
        # Two forced refreshes: the sandbox accepts each refresh token once,
        # so the second works only if MSAL stored the rotated one.
        for _ in range(2):
            fresh = app.acquire_token_silent(DELEGATED, account=account, force_refresh=True)
            expect(fresh and "access_token" in fresh, f"refresh: {fresh}")
            equal(fresh.get("token_source"), "identity_provider", "refreshed at the sandbox")
            tokens.add(fresh["access_token"])
        equal(len(tokens), 3, "each refresh gave a new access token")
        state["me"], state["me_adapter"] = graph_client(
            sb, lambda: app.acquire_token_silent(DELEGATED, account=account))
        state["second"], state["second_adapter"] = graph_client(
            sb, lambda: app.acquire_token_silent(DELEGATED, account=state["second_account"]))
        me = await state["me"].me.get()
        equal(me.id, state["users"][0].id, "/me with the refreshed token")

    await run.check("silent refresh with rotation (acquire_token_silent)", silent_refresh)

    async def reads_paged():
        graph, adapter = state["me"], state["me_adapter"]
        token = app.acquire_token_silent(DELEGATED, account=state["me_account"])["access_token"]
        from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
        first = await graph.me.messages.get(request_configuration=RequestConfiguration(
            query_parameters=MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(top=7)))
        messages = await iterate(adapter, first, MessageCollectionResponse)
        truth = await raw_pages(sb, token, "/me/messages?$top=7")
        equal([m.id for m in messages], [m["id"] for m in truth], "messages across pages")
        expect(len(truth) > 7 and all(isinstance(m, Message) and m.subject for m in messages),
               "typed messages on several pages")
        from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
        first = await graph.me.events.get(request_configuration=RequestConfiguration(
            query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(top=4)))
        events = await iterate(adapter, first, EventCollectionResponse)
        truth = await raw_pages(sb, token, "/me/events?$top=4")
        equal([e.id for e in events], [e["id"] for e in truth], "events across pages")
        expect(len(truth) > 4 and all(isinstance(e, Event) and e.start.date_time for e in events),
               "typed events")
        drive = await graph.me.drive.get()
        state["drive_id"] = drive.id
        children = await graph.drives.by_drive_id(drive.id).items.by_drive_item_id("root").children.get()
        expect(isinstance(children, DriveItemCollectionResponse), type(children))
        truth = await raw_pages(sb, token, "/me/drive/root/children")
        equal(sorted(i.name for i in children.value), sorted(i["name"] for i in truth),
              "drive root children via items/root")

    await run.check("typed reads with paging: messages, events, drive items", reads_paged)

    async def mail_actions():
        graph = state["me"]
        me, other, third = state["users"][0], state["users"][1], state["users"][2]
        app_graph = state["app"]

        async def inbox_of(user, subject):
            from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
                MessagesRequestBuilder as FolderMessages)
            q = FolderMessages.MessagesRequestBuilderGetQueryParameters(
                filter=f"subject eq '{subject}'", top=10)
            page = await app_graph.users.by_user_id(user.id).mail_folders.by_mail_folder_id(
                "inbox").messages.get(request_configuration=RequestConfiguration(query_parameters=q))
            return page.value

        async def folder_count(name):
            folder = await graph.me.mail_folders.by_mail_folder_id(name).get()
            return folder.total_item_count

        sent_before = await folder_count("sentitems")
        await graph.me.send_mail.post(SendMailPostRequestBody(
            message=Message(subject="Conformance: sendMail",
                            body=ItemBody(content_type=BodyType.Text, content="from msgraph-sdk"),
                            to_recipients=[recipient(other.mail)]),
            save_to_sent_items=False))
        got = await inbox_of(other, "Conformance: sendMail")
        equal(len(got), 1, "the recipient got the message")
        equal(await folder_count("sentitems"), sent_before, "SaveToSentItems=false honoured")
        run.cover("mail.send_mail")

        draft = await graph.me.messages.post(Message(
            subject="Conformance: draft", body=ItemBody(content_type=BodyType.Html, content="<p>draft</p>"),
            to_recipients=[recipient(other.mail)]))
        expect(draft.id and draft.is_draft, "a draft")
        att = await graph.me.messages.by_message_id(draft.id).attachments.post(FileAttachment(
            odata_type="#microsoft.graph.fileAttachment", name="notes.txt", content_type="text/plain",
            content_bytes=b"conformance notes"))
        expect(att.id, "attachment created")
        listed = await graph.me.messages.by_message_id(draft.id).attachments.get()
        equal([a.name for a in listed.value], ["notes.txt"], "the draft's attachments")
        await graph.me.messages.by_message_id(draft.id).send.post()
        got = await inbox_of(other, "Conformance: draft")
        expect(len(got) == 1 and got[0].has_attachments, "the draft arrived with its attachment")
        run.cover("mail.create_draft", "mail.add_attachment", "mail.send_draft")

        inbox = await graph.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        original = inbox.value[0]
        await graph.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(
            comment="Reply comment from the SDK",
            message=Message(cc_recipients=[recipient(third.mail)])))
        await graph.me.messages.by_message_id(original.id).reply_all.post(ReplyAllPostRequestBody(
            comment="Reply-all comment from the SDK"))
        await graph.me.messages.by_message_id(original.id).forward.post(ForwardPostRequestBody(
            comment="Forward comment from the SDK", to_recipients=[recipient(third.mail)]))
        sent = await graph.me.mail_folders.by_mail_folder_id("sentitems").messages.get()
        bodies = {}
        for m in sent.value:
            full = await graph.me.messages.by_message_id(m.id).get()
            bodies.setdefault(full.subject, []).append(full)
        replies = bodies.get(f"RE: {original.subject}", [])
        expect(any("Reply comment from the SDK" in r.body.content and r.cc_recipients
                   and r.cc_recipients[0].email_address.address == third.mail for r in replies),
               "reply with its Comment and Message.ccRecipients")
        expect(any("Reply-all comment from the SDK" in r.body.content for r in replies),
               "reply-all with its Comment")
        forwarded = await inbox_of(third, f"FW: {original.subject}".replace("'", "''"))
        expect(any("Forward comment from the SDK" in f.body.content for f in forwarded),
               "forward reached ToRecipients with its Comment")
        run.cover("mail.reply", "mail.reply_all", "mail.forward")

        archive = await graph.me.mail_folders.by_mail_folder_id("archive").get()
        moved = await graph.me.messages.by_message_id(original.id).move.post(
            MovePostRequestBody(destination_id="archive"))
        equal(moved.parent_folder_id, archive.id, "moved to Archive")
        await graph.me.messages.by_message_id(moved.id).delete()
        try:
            await graph.me.messages.by_message_id(moved.id).get()
            raise Failure("a deleted message is still there")
        except ODataError as e:
            equal(e.response_status_code, 404, "deleted message")
            equal(e.error.code, "ErrorItemNotFound", "Outlook's not-found code")
        run.cover("mail.move_message", "mail.delete_message")

    await run.check("mail actions through the SDK's request builders", mail_actions)

    async def calendar_actions():
        graph, second = state["me"], state["second"]
        me, other = state["users"][0], state["users"][1]
        day = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) \
            + dt.timedelta(days=3)

        async def create(subject, hour):
            return await graph.me.events.post(Event(
                subject=subject, start=dtz(day + dt.timedelta(hours=hour)),
                end=dtz(day + dt.timedelta(hours=hour + 1)),
                attendees=[Attendee(email_address=EmailAddress(address=other.mail),
                                    type=AttendeeType.Required)]))

        made = {name: await create(f"Conformance {name}", hour)
                for name, hour in [("tentative", 9), ("accept", 11), ("decline", 13), ("cancel", 15)]}
        run.cover("calendars.create_event")

        theirs = {}
        mine = await second.me.events.get()
        page = await iterate(state["second_adapter"], mine, EventCollectionResponse)
        for e in page:
            if e.subject and e.subject.startswith("Conformance "):
                theirs[e.subject] = e
        expect(len(theirs) == 4 and not any(e.is_organizer for e in theirs.values()),
               f"the attendee's copies: {sorted(theirs)}")
        proposal = TimeSlot(start=dtz(day + dt.timedelta(hours=17)), end=dtz(day + dt.timedelta(hours=18)))
        await second.me.events.by_event_id(theirs["Conformance tentative"].id).tentatively_accept.post(
            TentativelyAcceptPostRequestBody(comment="Maybe; how about five?", send_response=True,
                                             proposed_new_time=proposal))
        await second.me.events.by_event_id(theirs["Conformance accept"].id).accept.post(
            AcceptPostRequestBody(comment="See you there", send_response=True))
        await second.me.events.by_event_id(theirs["Conformance decline"].id).decline.post(
            DeclinePostRequestBody(comment="Out that day", send_response=True))
        run.cover("calendars.tentatively_accept_event", "calendars.accept_event", "calendars.decline_event")

        def status_of(event):
            for a in event.attendees:
                if a.email_address.address == other.mail:
                    return a
            raise Failure(f"{other.mail} is not an attendee")

        tentative = status_of(await graph.me.events.by_event_id(made["tentative"].id).get())
        equal(tentative.status.response.value, "tentativelyAccepted", "tentative answer recorded")
        equal(tentative.proposed_new_time.start.date_time[:16], proposal.start.date_time[:16],
              "ProposedNewTime recorded")
        accepted = status_of(await graph.me.events.by_event_id(made["accept"].id).get())
        equal(accepted.status.response.value, "accepted", "accept recorded")
        inbox = await graph.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        subjects = {m.subject: m for m in inbox.value}
        for subject, comment in [("Tentative: Conformance tentative", "Maybe; how about five?"),
                                 ("Accepted: Conformance accept", "See you there"),
                                 ("Declined: Conformance decline", "Out that day")]:
            expect(subject in subjects, f"the organizer got '{subject}'")
            full = await graph.me.messages.by_message_id(subjects[subject].id).get()
            expect(comment in full.body.content, f"'{subject}' carries the comment")

        await graph.me.events.by_event_id(made["cancel"].id).cancel.post(
            CancelPostRequestBody(comment="Called off, sorry"))
        notice = await second.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        cancelled = [m for m in notice.value if m.subject == "Canceled: Conformance cancel"]
        expect(cancelled, "the attendee got the cancellation")
        full = await second.me.messages.by_message_id(cancelled[0].id).get()
        expect("Called off, sorry" in full.body.content, "the cancellation carries the comment")
        copy = await second.me.events.by_event_id(theirs["Conformance cancel"].id).get()
        equal(copy.is_cancelled, True, "the attendee's copy is cancelled")
        updated = await graph.me.events.by_event_id(made["accept"].id).patch(
            Event(subject="Conformance accept (renamed)"))
        equal(updated.subject, "Conformance accept (renamed)", "patched subject")
        again = await graph.me.events.by_event_id(made["accept"].id).get()
        equal(again.subject, "Conformance accept (renamed)", "the change is stored")
        run.cover("calendars.update_event")
        await graph.me.events.by_event_id(made["tentative"].id).delete()
        try:
            await graph.me.events.by_event_id(made["tentative"].id).get()
            raise Failure("a deleted event is still there")
        except ODataError as e:
            equal(e.response_status_code, 404, "deleted event")
        run.cover("calendars.cancel_event", "calendars.delete_event")

        schedule = await graph.me.calendar.get_schedule.post(GetSchedulePostRequestBody(
            schedules=[other.mail], start_time=dtz(day), end_time=dtz(day + dt.timedelta(days=1)),
            availability_view_interval=30))
        equal(schedule.value[0].schedule_id, other.mail, "schedule of the attendee")
        equal(len(schedule.value[0].availability_view), 48, "30-minute slots over a day")
        run.cover("calendars.get_schedule")

        # meetingDuration goes as an ISO 8601 string: Kiota's Python writer
        # turns a timedelta into "0:30:00", which is not an Edm.Duration.
        times = await graph.me.find_meeting_times.post(FindMeetingTimesPostRequestBody(
            attendees=[AttendeeBase(email_address=EmailAddress(address=other.mail), type=AttendeeType.Required)],
            time_constraint=TimeConstraint(time_slots=[TimeSlot(
                start=dtz(day + dt.timedelta(days=1, hours=8)), end=dtz(day + dt.timedelta(days=1, hours=18)))]),
            meeting_duration="PT30M", max_candidates=2, return_suggestion_reasons=True,
            location_constraint=LocationConstraint(locations=[LocationConstraintItem(display_name="Room 4.01")])))
        suggestions = times.meeting_time_suggestions
        equal(len(suggestions), 2, "MaxCandidates")
        expect(all(s.suggestion_reason and s.locations[0].display_name == "Room 4.01" for s in suggestions),
               "ReturnSuggestionReasons and LocationConstraint honoured")
        run.cover("calendars.find_meeting_times")

    await run.check("calendar actions through the SDK's request builders", calendar_actions)

    async def drive_actions():
        graph = state["me"]
        items = graph.drives.by_drive_id(state["drive_id"]).items
        small = await items.by_drive_item_id("root:/conformance.txt:").content.put(b"hello, drive")
        equal(small.size, 12, "small upload")
        replaced = await items.by_drive_item_id(small.id).content.put(b"hello again, drive")
        equal(replaced.size, 18, "replaced content")
        equal(await items.by_drive_item_id(small.id).content.get(), b"hello again, drive",
              "content download (follows the pre-authenticated redirect)")
        run.cover("onedrive.upload_small", "onedrive.replace_content")

        folder = await items.by_drive_item_id("root").children.post(DriveItem(
            name="Conformance folder", folder=Folder(),
            additional_data={"@microsoft.graph.conflictBehavior": "rename"}))
        expect(folder.id and folder.folder is not None, "folder created under items/root")
        renamed = await items.by_drive_item_id(small.id).patch(DriveItem(name="renamed.txt"))
        equal(renamed.name, "renamed.txt", "renamed")
        run.cover("onedrive.create_folder", "onedrive.update_item")

        await items.by_drive_item_id(small.id).copy.post(CopyPostRequestBody(
            parent_reference=ItemReference(drive_id=state["drive_id"], id=folder.id), name="copied.txt"))
        children = await items.by_drive_item_id(folder.id).children.get()
        equal([c.name for c in children.value], ["copied.txt"], "the copy is in the folder")
        link = await items.by_drive_item_id(small.id).create_link.post(
            CreateLinkPostRequestBody(type="view", scope="anonymous"))
        expect(link.id and link.link and link.link.web_url and link.link.type == "view", "sharing link")
        run.cover("onedrive.copy_item", "onedrive.create_sharing_link")

        session = await items.by_drive_item_id("root:/conformance-large.bin:").create_upload_session.post(
            CreateUploadSessionPostRequestBody(item=DriveItemUploadableProperties(
                additional_data={"@microsoft.graph.conflictBehavior": "replace"})))
        expect(session.upload_url, "an upload URL")
        # two ranges; every range but the last is a multiple of 320 KiB
        data = bytes(range(256)) * 1600
        cut = 327680
        async with httpx.AsyncClient(verify=sb.cert) as http:
            first = await http.put(session.upload_url, content=data[:cut], headers={
                "Content-Range": f"bytes 0-{cut - 1}/{len(data)}"})
            equal(first.status_code, 202, "first range accepted")
            last = await http.put(session.upload_url, content=data[cut:], headers={
                "Content-Range": f"bytes {cut}-{len(data) - 1}/{len(data)}"})
            expect(last.status_code in (200, 201), f"last range: {last.status_code} {last.text}")
        uploaded = await items.by_drive_item_id("root:/conformance-large.bin:").get()
        equal(uploaded.size, len(data), "uploaded size")
        equal(await items.by_drive_item_id(uploaded.id).content.get(), data, "uploaded bytes")
        run.cover("onedrive.create_upload_session")

        await items.by_drive_item_id(folder.id).delete()
        try:
            await items.by_drive_item_id(folder.id).get()
            raise Failure("a deleted item is still there")
        except ODataError as e:
            equal(e.response_status_code, 404, "deleted item")
            equal(e.error.code, "itemNotFound", "OneDrive's not-found code")
        run.cover("onedrive.delete_item")

    await run.check("OneDrive actions through the SDK's request builders", drive_actions)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switchboard", required=True, help="the switchboard binary")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.switchboard)))
