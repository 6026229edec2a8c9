"""lateen.config"""
