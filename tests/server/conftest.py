from xds_server_fakes import env_fixture

__all__ = ["env_fixture"]
