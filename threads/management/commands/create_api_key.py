from django.core.management.base import BaseCommand

from threads.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an organization (created if needed); prints the key last."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id.")
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, org, name, **options):
        api_key, raw_key = api_key_create(organization_id=org, name=name)
        self.stdout.write(f"Created API key {api_key.prefix}… for organization {org}.")
        self.stdout.write("Store it now: it is not shown again.")
        self.stdout.write(raw_key)
