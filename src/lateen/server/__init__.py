"""lateen.server"""
