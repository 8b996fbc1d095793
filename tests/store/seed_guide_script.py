"""The seed guide's Python steps, run on this store.

/work/shared/seed-mlmd-guide.md walks through MLMD's Python API: register
types, record a dataset, a training run, its input and output events, mark the
run complete, group everything under an experiment context, and query it back.
``run()`` below is that code, step by step and unchanged except for the import
lines (``ml_metadata`` -> ``store``), followed by the checks the guide implies.

Run it as a script in a fresh interpreter, no Django setup needed::

    python tests/store/seed_guide_script.py              # fake (in-memory) database
    python tests/store/seed_guide_script.py /tmp/x.db    # an SQLite file
"""
import json
import sys
from pathlib import Path

if __name__ == "__main__" and __package__ in (None, ""):
    # Started as a script: make the repository importable (the guide's code
    # assumes the package is installed, as ml_metadata would be).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from store import metadata_store  # was: from ml_metadata.metadata_store import metadata_store
from store.proto import metadata_store_pb2  # was: from ml_metadata.proto import metadata_store_pb2


def fake_database_config():
    # The guide's fake database connection config.
    connection_config = metadata_store_pb2.ConnectionConfig()
    connection_config.fake_database.SetInParent()  # Sets an empty fake database proto.
    return connection_config


def sqlite_config(filename_uri):
    # The guide's SQLite connection config.
    connection_config = metadata_store_pb2.ConnectionConfig()
    connection_config.sqlite.filename_uri = filename_uri
    connection_config.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
    return connection_config


def run(connection_config):
    """Run the guide's steps on a store opened with ``connection_config``; return a summary."""
    store = metadata_store.MetadataStore(connection_config)
    try:
        # ---- The guide, verbatim from here ----

        # 1. Register artifact types
        # Create ArtifactTypes, e.g., Data and Model
        data_type = metadata_store_pb2.ArtifactType()
        data_type.name = "DataSet"
        data_type.properties["day"] = metadata_store_pb2.INT
        data_type.properties["split"] = metadata_store_pb2.STRING
        data_type_id = store.put_artifact_type(data_type)

        model_type = metadata_store_pb2.ArtifactType()
        model_type.name = "SavedModel"
        model_type.properties["version"] = metadata_store_pb2.INT
        model_type.properties["name"] = metadata_store_pb2.STRING
        model_type_id = store.put_artifact_type(model_type)

        # Query all registered Artifact types.
        artifact_types = store.get_artifact_types()

        # 2. Register execution types for all steps in the ML workflow
        # Create an ExecutionType, e.g., Trainer
        trainer_type = metadata_store_pb2.ExecutionType()
        trainer_type.name = "Trainer"
        trainer_type.properties["state"] = metadata_store_pb2.STRING
        trainer_type_id = store.put_execution_type(trainer_type)

        # Query a registered Execution type with the returned id
        [registered_type] = store.get_execution_types_by_id([trainer_type_id])

        # 3. Create an artifact of DataSet ArtifactType
        # Create an input artifact of type DataSet
        data_artifact = metadata_store_pb2.Artifact()
        data_artifact.uri = 'path/to/data'
        data_artifact.properties["day"].int_value = 1
        data_artifact.properties["split"].string_value = 'train'
        data_artifact.type_id = data_type_id
        [data_artifact_id] = store.put_artifacts([data_artifact])

        # Query all registered Artifacts
        artifacts = store.get_artifacts()

        # Plus, there are many ways to query the same Artifact
        [stored_data_artifact] = store.get_artifacts_by_id([data_artifact_id])
        artifacts_with_uri = store.get_artifacts_by_uri(data_artifact.uri)

        # 4. Create an execution of the Trainer run
        # Register the Execution of a Trainer run
        trainer_run = metadata_store_pb2.Execution()
        trainer_run.type_id = trainer_type_id
        trainer_run.properties["state"].string_value = "RUNNING"
        [run_id] = store.put_executions([trainer_run])

        # Query all registered Execution
        executions = store.get_executions_by_id([run_id])

        # 5. Define the input event and read data
        # Define the input event
        input_event = metadata_store_pb2.Event()
        input_event.artifact_id = data_artifact_id
        input_event.execution_id = run_id
        input_event.type = metadata_store_pb2.Event.DECLARED_INPUT

        # Record the input event in the metadata store
        store.put_events([input_event])

        # 6. Declare the output artifact
        # Declare the output artifact of type SavedModel
        model_artifact = metadata_store_pb2.Artifact()
        model_artifact.uri = 'path/to/model/file'
        model_artifact.properties["version"].int_value = 1
        model_artifact.properties["name"].string_value = 'MNIST-v1'
        model_artifact.type_id = model_type_id
        [model_artifact_id] = store.put_artifacts([model_artifact])

        # 7. Record the output event
        # Declare the output event
        output_event = metadata_store_pb2.Event()
        output_event.artifact_id = model_artifact_id
        output_event.execution_id = run_id
        output_event.type = metadata_store_pb2.Event.DECLARED_OUTPUT

        # Submit output event to the Metadata Store
        store.put_events([output_event])

        # 8. Mark the execution as completed
        trainer_run.id = run_id
        trainer_run.properties["state"].string_value = "COMPLETED"
        store.put_executions([trainer_run])

        # 9. Group artifacts and executions under a context using attributions and assertions artifacts
        # Create a ContextType, e.g., Experiment with a note property
        experiment_type = metadata_store_pb2.ContextType()
        experiment_type.name = "Experiment"
        experiment_type.properties["note"] = metadata_store_pb2.STRING
        experiment_type_id = store.put_context_type(experiment_type)

        # Group the model and the trainer run to an experiment.
        my_experiment = metadata_store_pb2.Context()
        my_experiment.type_id = experiment_type_id
        # Give the experiment a name
        my_experiment.name = "exp1"
        my_experiment.properties["note"].string_value = "My first experiment."
        [experiment_id] = store.put_contexts([my_experiment])

        attribution = metadata_store_pb2.Attribution()
        attribution.artifact_id = model_artifact_id
        attribution.context_id = experiment_id

        association = metadata_store_pb2.Association()
        association.execution_id = run_id
        association.context_id = experiment_id

        store.put_attributions_and_associations([attribution], [association])

        # Query the Artifacts and Executions that are linked to the Context.
        experiment_artifacts = store.get_artifacts_by_context(experiment_id)
        experiment_executions = store.get_executions_by_context(experiment_id)

        # ---- End of the guide; what it implies ----

        ids = [data_type_id, model_type_id, trainer_type_id, experiment_type_id,
               data_artifact_id, model_artifact_id, run_id, experiment_id]
        assert all(isinstance(i, int) and i > 0 for i in ids), ids
        assert len({data_type_id, model_type_id}) == 2
        assert data_artifact_id != model_artifact_id

        by_name = {t.name: t for t in artifact_types}
        assert by_name["DataSet"].id == data_type_id
        assert by_name["SavedModel"].id == model_type_id
        assert dict(by_name["DataSet"].properties) == {"day": metadata_store_pb2.INT, "split": metadata_store_pb2.STRING}
        assert dict(by_name["SavedModel"].properties) == {
            "version": metadata_store_pb2.INT, "name": metadata_store_pb2.STRING}

        assert registered_type.id == trainer_type_id
        assert registered_type.name == "Trainer"
        assert dict(registered_type.properties) == {"state": metadata_store_pb2.STRING}

        # Right after it was put, the data set is the only artifact.
        assert [a.id for a in artifacts] == [data_artifact_id]
        # Reading an artifact back gives what was written, plus id, type name and times.
        assert stored_data_artifact.id == data_artifact_id
        assert stored_data_artifact.type_id == data_type_id
        assert stored_data_artifact.type == "DataSet"
        assert stored_data_artifact.uri == "path/to/data"
        assert stored_data_artifact.properties["day"].int_value == 1
        assert stored_data_artifact.properties["split"].string_value == "train"
        assert stored_data_artifact.create_time_since_epoch > 0
        assert stored_data_artifact.last_update_time_since_epoch >= stored_data_artifact.create_time_since_epoch
        expected = metadata_store_pb2.Artifact()
        expected.CopyFrom(data_artifact)
        expected.id = data_artifact_id
        expected.type = "DataSet"
        expected.create_time_since_epoch = stored_data_artifact.create_time_since_epoch
        expected.last_update_time_since_epoch = stored_data_artifact.last_update_time_since_epoch
        assert stored_data_artifact == expected, (stored_data_artifact, expected)
        assert [a.id for a in artifacts_with_uri] == [data_artifact_id]
        assert artifacts_with_uri[0] == stored_data_artifact

        [execution] = executions
        assert execution.id == run_id and execution.type_id == trainer_type_id
        assert execution.properties["state"].string_value == "RUNNING"

        # The run was marked completed, under the same id.
        [completed] = store.get_executions_by_id([run_id])
        assert completed.properties["state"].string_value == "COMPLETED"
        assert completed.type == "Trainer"

        events = store.get_events_by_execution_ids([run_id])
        assert sorted((e.artifact_id, e.type) for e in events) == sorted([
            (data_artifact_id, metadata_store_pb2.Event.DECLARED_INPUT),
            (model_artifact_id, metadata_store_pb2.Event.DECLARED_OUTPUT),
        ])
        assert all(e.milliseconds_since_epoch > 0 for e in events)

        [model] = store.get_artifacts_by_uri("path/to/model/file")
        assert model.id == model_artifact_id
        assert model.properties["version"].int_value == 1
        assert model.properties["name"].string_value == "MNIST-v1"

        [experiment] = store.get_contexts_by_id([experiment_id])
        assert experiment.name == "exp1" and experiment.type == "Experiment"
        assert experiment.properties["note"].string_value == "My first experiment."
        assert store.get_context_by_type_and_name("Experiment", "exp1").id == experiment_id

        # Only what was attributed / associated is linked to the experiment.
        assert [a.id for a in experiment_artifacts] == [model_artifact_id]
        assert experiment_artifacts[0] == model
        assert [e.id for e in experiment_executions] == [run_id]
        assert experiment_executions[0] == completed
        assert [c.id for c in store.get_contexts_by_artifact(model_artifact_id)] == [experiment_id]
        assert [c.id for c in store.get_contexts_by_execution(run_id)] == [experiment_id]

        return {
            "artifact_type_ids": {"DataSet": data_type_id, "SavedModel": model_type_id},
            "execution_type_id": trainer_type_id,
            "context_type_id": experiment_type_id,
            "data_artifact_id": data_artifact_id,
            "model_artifact_id": model_artifact_id,
            "run_id": run_id,
            "experiment_id": experiment_id,
            "artifact_count": len(store.get_artifacts()),
            "execution_state": completed.properties["state"].string_value,
            "experiment_artifact_ids": [a.id for a in experiment_artifacts],
            "experiment_execution_ids": [e.id for e in experiment_executions],
            "event_count": len(events),
        }
    finally:
        store.close()


def main(argv):
    config = sqlite_config(argv[1]) if len(argv) > 1 else fake_database_config()
    print(json.dumps(run(config), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
