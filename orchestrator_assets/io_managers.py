"""The layer IO managers: where Bronze and Silver live (local files, ADLS or OSS), one resource per layer.

They differ only in their layer and location; each starts from the storage resource's location and can be moved
on its own, in Definitions or per run in the launchpad (`resources.silver_io_manager.config.root`). What they
pass between assets is a handle (handles.py), never table data.

Bronze and Silver are written by their assets through the storage seam, because each publishes several objects
as one (Bronze: parts and ledger, then the manifest; Silver: a version, then its pointer), which no per-output
call can do. The asset writes to its layer's store (`store()`), then returns the handle of what it published;
handle_output checks that the completion marker in this IO manager's store names exactly that (so a write that
went anywhere else fails the step) and records where it is. load_input reads only the marker.
"""
from __future__ import annotations

from dagster import ConfigurableIOManager, Failure, InputContext, OutputContext
from pydantic import Field, PrivateAttr

from .cleaning.publish import current_silver, require_silver
from .generation.bronze import Manifest, read_manifest
from .generation.manifest import ManifestError
from .handles import LayerHandle, bronze_handle, silver_handle
from .ids import split_key
from .resources import StorageLocation, StorageResource
from .settings import SettingsError, StorageSettings
from .storage.backends import open_storage
from .storage.base import Storage, StorageError
from .storage.layered import LayeredStorage

BRONZE_IO = "bronze_io_manager"
SILVER_IO = "silver_io_manager"


class LayerIOManager(ConfigurableIOManager, StorageLocation):
    layer: str = Field(description="The layer whose objects this manager places.")
    _store: Storage | None = PrivateAttr(default=None)

    def store(self) -> Storage:
        """This layer's store, opened and checked once per run."""
        if self._store is None:
            self._store = open_storage(self.settings())
        return self._store

    def _partition(self, context: InputContext | OutputContext) -> tuple[str, str]:
        return split_key(context.asset_partition_key)

    def _recorded(self, context: OutputContext, handle: LayerHandle, store: Storage) -> None:
        if not isinstance(handle, LayerHandle):
            raise TypeError(f"{context.asset_key.to_user_string()}: the {self.layer} IO manager stores handles of "
                            f"published data, not {type(handle).__name__}")
        if (handle.user, handle.job) != self._partition(context):
            raise StorageError(f"{context.asset_key.to_user_string()}: handle of {handle.user}.{handle.job} returned "
                               f"for partition {context.asset_partition_key}")
        missing = [k for k in handle.keys if handle.storage.uri(k) != store.uri(k) or not store.exists(k)]
        if missing:
            raise StorageError(f"{context.asset_key.to_user_string()}: {len(missing)} objects are not in the "
                               f"{self.layer} store {store.location} (first: {missing[0]}); the asset wrote "
                               f"elsewhere than its IO manager's config says")
        context.add_output_metadata({"objects": len(handle.keys), "location": store.location})


class BronzeIOManager(LayerIOManager):
    """Bronze of one partition: its manifest, read when an input is loaded; the parts stay where they are."""

    layer: str = "bronze"

    def manifest(self, user: str, job: str) -> Manifest:
        try:
            manifest = read_manifest(self.store(), user, job)
        except ManifestError as err:
            # A manifest with problems has them on a retry too: fail now, naming each field.
            raise Failure(description=str(err), allow_retries=False) from err
        if manifest is None:
            raise FileNotFoundError(f"no Bronze manifest for {user}.{job}: materialise Bronze first")
        return manifest

    def handle_output(self, context: OutputContext, obj: LayerHandle) -> None:
        store = self.store()
        published = read_manifest(store, *self._partition(context))
        if published is None or obj.manifest is None or published.data != obj.manifest.data:
            raise StorageError(f"{context.asset_key.to_user_string()}: the manifest in {store.location} is not "
                               "the one the asset published")
        self._recorded(context, obj, store)

    def load_input(self, context: InputContext) -> LayerHandle:
        manifest = self.manifest(*self._partition(context))
        return bronze_handle(self.store(), manifest, context.asset_key.path[-1])


class SilverIOManager(LayerIOManager):
    """Silver of one partition: the published version its pointer names, resolved once per input."""

    layer: str = "silver"

    def handle_output(self, context: OutputContext, obj: LayerHandle) -> None:
        store = self.store()
        current = current_silver(store, *self._partition(context))
        if current is None or obj.version is None or current.version != obj.version.version:
            raise StorageError(f"{context.asset_key.to_user_string()}: the Silver pointer in {store.location} "
                               f"does not name version {obj.version.version if obj.version else None}")
        self._recorded(context, obj, store)

    def load_input(self, context: InputContext) -> LayerHandle:
        user, job = self._partition(context)
        return silver_handle(self.store(), require_silver(self.store(), user, job), context.asset_key.path[-1])

    def cleaning_store(self, bronze: dict[str, LayerHandle]) -> tuple[Storage, Manifest]:
        """For the Silver step: one Storage that reads Bronze where its handles are and writes Silver here, and
        the partition's manifest (the same in every Bronze handle)."""
        handle = next(iter(bronze.values()))
        store = LayeredStorage({"bronze": handle.storage, "silver": self.store()}, self.store(), writes="silver")
        return store, handle.manifest

    def remote_settings(self, store: Storage) -> StorageSettings:
        """The one location a remote cleaner (Databricks) reads Bronze from and writes Silver to."""
        if isinstance(store, LayeredStorage) and store.single() is None:
            raise SettingsError(f"cleaning on Databricks needs Bronze and Silver in one store; they are in "
                                f"{store.location}: point bronze_io_manager and silver_io_manager at one place")
        return self.settings()


def layer_io_managers(storage: StorageResource) -> dict[str, LayerIOManager]:
    """Both layers where the storage resource is: the deployment's default, and what tests start from."""
    location = storage.location_config()
    return {BRONZE_IO: BronzeIOManager(**location), SILVER_IO: SilverIOManager(**location)}


def storage_resources(storage: StorageResource) -> dict:
    """The storage resource with both layer IO managers at its location."""
    return {"storage": storage, **layer_io_managers(storage)}
