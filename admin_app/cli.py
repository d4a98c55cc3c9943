"""``flask --app wsgi users …`` and ``… tokens …``: manage admin accounts and API tokens."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from admin_app import get_services
from admin_app.security import hash_api_token, hash_password, new_api_token, new_password
from services.errors import Conflict, NotFound

users = AppGroup("users", help="Admin panel accounts.")
tokens = AppGroup("tokens", help="API tokens for the admin JSON API.")


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(tokens)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was generated (and so must be printed)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            raise click.ClickException("the password must have at least 8 characters")
        return password, False
    return new_password(), True


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "agent"]), default="agent", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; prints a generated password unless one comes on stdin."""
    services = get_services()
    password, generated = _password(password_stdin)
    try:
        user = services.store.create_user(
            email.strip(), role, hash_password(password), services.clock()
        )
    except Conflict:
        raise click.ClickException(f"an account for {email} already exists") from None
    click.echo(f"created {user.role} {user.email} (id {user.id})")
    if generated:
        click.echo(f"password: {password}")


@users.command("ensure-admin")
@click.option("--email", default="admin@localhost", show_default=True)
def ensure_admin(email: str) -> None:
    """Create the first admin when there is no account yet, and print its password."""
    services = get_services()
    if services.store.list_users():
        click.echo("admin accounts exist already; `flask --app wsgi users list` shows them")
        return
    password = new_password()
    services.store.create_user(email, "admin", hash_password(password), services.clock())
    click.echo(f"First admin account: {email}  password: {password}")
    click.echo("Change it with: flask --app wsgi users set-password " + email)


@users.command("list")
def list_users() -> None:
    for user in get_services().store.list_users():
        state = " (disabled)" if user.disabled else ""
        click.echo(f"{user.id}\t{user.role}\t{user.email}{state}")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(email: str, password_stdin: bool) -> None:
    """Set a new password (generated and printed unless given on stdin)."""
    services = get_services()
    user = services.store.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    password, generated = _password(password_stdin)
    services.store.set_user_password(user.id, hash_password(password))
    click.echo(f"password changed for {user.email}")
    if generated:
        click.echo(f"password: {password}")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
def create_token(email: str, name: str) -> None:
    """Create an API token for an account; it is printed once and stored hashed."""
    services = get_services()
    user = services.store.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    token = new_api_token()
    record = services.store.create_api_token(user.id, name, hash_api_token(token), services.clock())
    click.echo(f"token {record.id} for {user.email}: {token}")


@tokens.command("list")
def list_tokens() -> None:
    for token in get_services().store.list_api_tokens():
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        click.echo(f"{token.id}\tuser {token.user_id}\t{token.name}\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    services = get_services()
    try:
        services.store.revoke_api_token(token_id, services.clock())
    except NotFound:
        raise click.ClickException(f"no token {token_id}") from None
    click.echo(f"token {token_id} revoked")
